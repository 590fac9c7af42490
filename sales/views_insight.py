"""Win/loss, time in stage and cohorts: sales managers' analysis over the fact tables
(sales.insight_figures). Read-only pages; every number opens the deals behind it."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import get_language

from crm_site import insight
from crm_site.overview import scope_key
from crm_site.permissions import see_required
from crm_site.replica import reads_from_replica
from sales import insight_figures
from sales.forms_insight import CohortFilterForm, InsightFilterForm
from sales.insight import DEALS, STAGE_DURATIONS

SEE = "sales.view_sales_management"
# Exact percentiles sort every stay of the period: a page is computed once per scope,
# filters and language, and served from the cache for two minutes (the fact tables
# themselves follow the live data within a minute).
CACHE_SECONDS = 120


def _cached(kind: str, user, values: dict, compute: Callable[[], Any]) -> tuple:
    """(report, computed_at), computed at most every CACHE_SECONDS per scope."""
    today = timezone.localdate()
    raw = f"sales-insight:{kind}:{get_language()}:{scope_key(user)}:{today}:" + repr(
        sorted(values.items())
    )
    key = hashlib.sha256(raw.encode()).hexdigest()
    found = cache.get(key)
    if found is None:
        found = (compute(), timezone.now())
        cache.set(key, found, CACHE_SECONDS)
    return found


def _page(request: HttpRequest, template: str, context: dict, facts) -> HttpResponse:
    context["refreshed_at"] = insight.refreshed_at(facts)
    context["cache_minutes"] = CACHE_SECONDS // 60
    return render(request, template, context)


@see_required(SEE)
@reads_from_replica
def win_loss(request: HttpRequest) -> HttpResponse:
    form = InsightFilterForm(request.GET, default_months=6, user=request.user)
    values = form.values()
    report, computed_at = _cached(
        "win-loss",
        request.user,
        values,
        lambda: insight_figures.win_loss(user=request.user, **values),
    )
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
        {
            "form": form,
            "report": report,
            "charts": charts,
            "tab": "win-loss",
            "computed_at": computed_at,
        },
        [DEALS.key],
    )


@see_required(SEE)
@reads_from_replica
def velocity(request: HttpRequest) -> HttpResponse:
    form = InsightFilterForm(request.GET, default_months=6, user=request.user)
    values = form.values()
    report, computed_at = _cached(
        "velocity",
        request.user,
        values,
        lambda: insight_figures.velocity(user=request.user, **values),
    )
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
        {
            "form": form,
            "report": report,
            "charts": charts,
            "tab": "velocity",
            "computed_at": computed_at,
        },
        [STAGE_DURATIONS.key],
    )


@see_required(SEE)
@reads_from_replica
def cohorts(request: HttpRequest) -> HttpResponse:
    form = CohortFilterForm(request.GET, default_months=12, user=request.user)
    values = form.values()
    report, computed_at = _cached(
        "cohorts",
        request.user,
        values,
        lambda: insight_figures.cohorts(user=request.user, **values),
    )
    return _page(
        request,
        "sales/insight_cohorts.html",
        {"form": form, "report": report, "tab": "cohorts", "computed_at": computed_at},
        [DEALS.key],
    )
