"""The home page and the health page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from crm_site.health import run_checks
from crm_site.models import AuditEntry


def home(request: HttpRequest) -> HttpResponse:
    recent = (
        AuditEntry.objects.filter(actor=request.user)
        .select_related("content_type")
        .order_by("-created_at", "-pk")[:10]
    )
    return render(request, "crm_site/home.html", {"recent_changes": recent})


@login_not_required
@never_cache
def health(request: HttpRequest) -> HttpResponse:
    checks = run_checks()
    healthy = all(check.ok for check in checks)
    status = 200 if healthy else 503
    wants_json = "application/json" in request.headers.get("Accept", "") or (
        request.GET.get("format") == "json"
    )
    if wants_json:
        return JsonResponse(
            {
                "status": "ok" if healthy else "fail",
                "components": {check.name: check.as_json() for check in checks},
            },
            status=status,
        )
    return render(
        request,
        "crm_site/health.html",
        {"checks": checks, "healthy": healthy},
        status=status,
    )
