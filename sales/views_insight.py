"""Win/loss, time in stage and cohorts: sales managers' analysis over the fact tables
(sales.insight_figures). Read-only pages; every number opens the deals behind it."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from crm_site import insight
from crm_site.permissions import see_required
from sales import insight_figures
from sales.forms_insight import CohortFilterForm, InsightFilterForm
from sales.insight import DEALS, STAGE_DURATIONS

SEE = "sales.view_sales_management"


def _page(request: HttpRequest, template: str, context: dict, facts) -> HttpResponse:
    context["refreshed_at"] = insight.refreshed_at(facts)
    return render(request, template, context)


@see_required(SEE)
def win_loss(request: HttpRequest) -> HttpResponse:
    form = InsightFilterForm(request.GET, default_months=6)
    report = insight_figures.win_loss(user=request.user, **form.values())
    charts = {
        "outcomes": {
            "labels": [row.label for row in report.by_month],
            "won": [row.figures["won"].value for row in report.by_month],
            "lost": [row.figures["lost"].value for row in report.by_month],
        }
    }
    return _page(
        request,
        "sales/insight_win_loss.html",
        {"form": form, "report": report, "charts": charts, "tab": "win-loss"},
        [DEALS.key],
    )


@see_required(SEE)
def velocity(request: HttpRequest) -> HttpResponse:
    form = InsightFilterForm(request.GET, default_months=6)
    report = insight_figures.velocity(user=request.user, **form.values())
    charts = {
        "stages": {
            "labels": [s.label for s in report.stages],
            "median": [s.median for s in report.stages],
            "p90": [s.p90 for s in report.stages],
        },
        "trend": {
            "labels": [m.strftime("%Y-%m") for m in report.months],
            "series": [
                {"label": s.label, "data": s.trend_median} for s in report.stages
            ],
        },
    }
    return _page(
        request,
        "sales/insight_velocity.html",
        {"form": form, "report": report, "charts": charts, "tab": "velocity"},
        [STAGE_DURATIONS.key],
    )


@see_required(SEE)
def cohorts(request: HttpRequest) -> HttpResponse:
    form = CohortFilterForm(request.GET, default_months=12)
    report = insight_figures.cohorts(user=request.user, **form.values())
    return _page(
        request,
        "sales/insight_cohorts.html",
        {"form": form, "report": report, "tab": "cohorts"},
        [DEALS.key],
    )
