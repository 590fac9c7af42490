"""The service dashboard page, for service managers and executives."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from crm_site.permissions import see_required
from crm_site.replica import reads_from_replica
from sales.forms import DashboardFilterForm
from service import dashboard


@see_required("service.view_service_management")
@reads_from_replica
def service_dashboard(request: HttpRequest) -> HttpResponse:
    form = DashboardFilterForm(request.GET)
    form.is_valid()  # invalid values fall back to the defaults and show their error
    data = form.cleaned_data
    board = dashboard.service_dashboard(
        start=data["start"], end=data["end"], project=data.get("project")
    )
    return render(
        request,
        "service/dashboard.html",
        {
            "board": board,
            "form": form,
            "cache_minutes": dashboard.CACHE_SECONDS // 60,
            "cluster_days": settings.SERVICE_CLUSTER_DAYS,
        },
    )
