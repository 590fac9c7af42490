"""The managers' overview page: each registered figure of the period with the same
days of the period before, its target, and a link to the list behind it."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from crm_site import overview
from crm_site.replica import reads_from_replica
from crm_site.validation import parse_id


@reads_from_replica
def overview_page(request: HttpRequest) -> HttpResponse:
    projects = overview.project_choices()
    wanted = parse_id(request.GET.get("project"))
    project = next(((pk, name) for pk, name in projects if pk == wanted), None)
    project_id = project[0] if project else None
    period = request.GET.get("period", "")
    if period not in overview.PERIODS:
        period = overview.DEFAULT_PERIOD
    board = overview.overview(user=request.user, project_id=project_id, period=period)
    scope = overview.Scope(
        user=request.user, project_id=project_id, key=overview.scope_key(request.user)
    )
    return render(
        request,
        "crm_site/overview.html",
        {
            "board": board,
            "sections": board.sections_for(scope),
            "projects": projects,
            "project_id": project_id,
            "project_name": project[1] if project else "",
            "periods": list(overview.PERIODS.items()),
            "period_label": overview.PERIODS[period],
            "cache_seconds": overview.CACHE_SECONDS,
        },
    )
