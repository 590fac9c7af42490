"""The service insight page (service managers and above): what the requests are about
over time, where they repeat, what they cost and how owners rate the work. It reads
the fact tables only (service.insight_figures)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from crm_site.pagination import paginate
from crm_site.permissions import see_required
from crm_site.replica import reads_from_replica
from service import insight_figures as figures
from service.forms import InsightFilterForm


def _period(request: HttpRequest) -> tuple[InsightFilterForm, figures.Period, str]:
    """The period from the query string; invalid values fall back to the defaults and
    the form shows their error."""
    form = InsightFilterForm(
        request.GET or None, initial={"months": figures.DEFAULT_MONTHS}
    )
    data = form.cleaned_data if form.is_valid() else {}
    months = data.get("months") or figures.DEFAULT_MONTHS
    project = data.get("project")
    period = figures.Period(
        months=figures.months_back(months),
        project_id=project.pk if project is not None else None,
    )
    query = {"months": months} | ({"project": project.pk} if project else {})
    return form, period, urlencode(query)


@see_required("service.view_service_management")
@reads_from_replica
def service_insight(request: HttpRequest) -> HttpResponse:
    form, period, query = _period(request)
    page = figures.service_insight(request.user, period)
    return render(
        request,
        "service/insight.html",
        {"form": form, "insight": page, "period_query": query},
    )


@see_required("service.view_service_management")
@reads_from_replica
def insight_units(request: HttpRequest) -> HttpResponse:
    """Every unit with repeated requests in the period, most repeats first."""
    form, period, query = _period(request)
    page = paginate(
        figures.repeated_units(request.user, period), page=request.GET.get("page")
    )
    return render(
        request,
        "service/insight_units.html",
        {
            "form": form,
            "page": page,
            "units": figures.unit_rows(page.items, period),
            "period": period,
            "filter_query": query,
            "period_query": query,
        },
    )
