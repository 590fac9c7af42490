"""Service's pages in the owners' portal (namespace "service_portal"), at
/portal/service/."""

from __future__ import annotations

from django.urls import path

from service.views import portal_handover

app_name = "service_portal"

urlpatterns = [
    path(
        "handover/<int:pk>/book/",
        portal_handover.handover_booking,
        name="handover-booking",
    ),
    path("surveys/", portal_handover.surveys, name="surveys"),
]
