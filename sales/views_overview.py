"""The lists behind the overview's sales figures: the visits and the receipts of a
window of days, in the user's scope and a project, built from the very querysets the
figures count (sales.overview)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.db.models import DecimalField, Sum
from django.db.models import Value as V
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from crm_site.pagination import paginate
from crm_site.permissions import see_required
from crm_site.validation import parse_date, parse_id
from sales.models import Project
from sales.overview import receipts_in, visits_in, window_of


def _window(request: HttpRequest) -> dict:
    """?start&end (default: this month) and ?project of a list behind a figure."""
    today = timezone.localdate()
    start = parse_date(request.GET.get("start")) or today.replace(day=1)
    end = parse_date(request.GET.get("end")) or today
    first, stop = window_of(start, end) or window_of(today.replace(day=1), today)
    project_id = parse_id(request.GET.get("project"))
    return {
        "first": first,
        "stop": stop,
        "start": first,
        "end": stop - timedelta(days=1),
        "project_id": project_id,
        "filter_query": urlencode(
            {
                "start": first.isoformat(),
                "end": (stop - timedelta(days=1)).isoformat(),
                **({"project": project_id} if project_id else {}),
            }
        ),
        "project": Project.objects.filter(pk=project_id).first()
        if project_id
        else None,
    }


@see_required("sales.view_sales_management")
def visit_list(request: HttpRequest) -> HttpResponse:
    window = _window(request)
    qs = (
        visits_in(
            user=request.user,
            project_id=window["project_id"],
            first=window["first"],
            stop=window["stop"],
        )
        .select_related("customer", "created_by")
        .order_by("-occurred_at", "-pk")
    )
    page = paginate(qs, page=request.GET.get("page"))
    for visit in page.items:
        visit.customer.mobile_display = visit.customer.mobile_for(request.user)
    return render(request, "sales/visit_list.html", {"page": page, **window})


@see_required("sales.view_sales_management")
def receipt_list(request: HttpRequest) -> HttpResponse:
    window = _window(request)
    qs = receipts_in(
        user=request.user,
        project_id=window["project_id"],
        first=window["first"],
        stop=window["stop"],
    )
    total = qs.aggregate(
        total=Coalesce(
            Sum("amount"),
            V(0),
            output_field=DecimalField(max_digits=18, decimal_places=2),
        )
    )["total"]
    page = paginate(
        qs.select_related(
            "item__opportunity__customer", "item__opportunity__project"
        ).order_by("-received_on", "-pk"),
        page=request.GET.get("page"),
    )
    return render(
        request, "sales/receipt_list.html", {"page": page, "total": total, **window}
    )
