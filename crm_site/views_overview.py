"""The managers' overview page: figures of today and a period, each linking to the list
or dashboard behind it, filtered the same way."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from crm_site import overview
from sales.models import Project


def _url(name: str, **params) -> str:
    query = urlencode({k: v for k, v in params.items() if v not in ("", None)})
    return f"{reverse(name)}?{query}" if query else reverse(name)


def _links(board: overview.Overview, project: Project | None) -> dict[str, str]:
    pk = project.pk if project else ""
    window = {"start": board.start.isoformat(), "end": board.end.isoformat()}
    return {
        "visits": _url("sales:dashboard", project=pk, **window),
        "subscriptions": _url(
            "sales:opportunity-list", reached="subscribed", project=pk, **window
        ),
        "contracts": _url(
            "sales:opportunity-list", reached="contracted", project=pk, **window
        ),
        "collections": _url("sales:dashboard", project=pk, **window),
        "overdue_payments": reverse("sales:payments-overdue"),
        "open_requests": _url("service:request-list", view="open"),
        "overdue_requests": _url("service:request-list", view="overdue"),
        "satisfaction": reverse("service:survey-results"),
    }


def overview_page(request: HttpRequest) -> HttpResponse:
    projects = list(Project.objects.order_by("name").only("pk", "name"))
    wanted = request.GET.get("project", "")
    project = next((p for p in projects if str(p.pk) == wanted), None)
    period = request.GET.get("period", "")
    if period not in overview.PERIODS:
        period = overview.DEFAULT_PERIOD
    board = overview.overview(user=request.user, project=project, period=period)
    return render(
        request,
        "crm_site/overview.html",
        {
            "board": board,
            "links": _links(board, project),
            "projects": projects,
            "project": project,
            "periods": list(overview.PERIODS.items()),
            "period_label": overview.PERIODS[period],
            "cache_seconds": overview.CACHE_SECONDS,
        },
    )
