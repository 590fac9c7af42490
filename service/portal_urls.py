"""Service's pages in the owners' portal (namespace "service_portal"), at
/portal/service/: handover booking and surveys, repairs and complaints, the GM
mailbox."""

from __future__ import annotations

from django.urls import path

from service.views import portal_handover, portal_mailbox, portal_requests

app_name = "service_portal"

urlpatterns = [
    path("requests/", portal_requests.request_list, name="request-list"),
    path("requests/new/", portal_requests.request_create, name="request-create"),
    path("requests/<int:pk>/", portal_requests.request_detail, name="request-detail"),
    path(
        "requests/<int:pk>/photos/<int:photo_pk>/",
        portal_requests.request_photo,
        name="request-photo",
    ),
    path(
        "requests/<int:pk>/confirm/",
        portal_requests.request_confirm,
        name="request-confirm",
    ),
    path(
        "requests/<int:pk>/reject/",
        portal_requests.request_reject,
        name="request-reject",
    ),
    path("requests/<int:pk>/rate/", portal_requests.request_rate, name="request-rate"),
    path("letters/", portal_mailbox.letter_list, name="letter-list"),
    path("letters/new/", portal_mailbox.letter_create, name="letter-create"),
    path("letters/<int:pk>/", portal_mailbox.letter_detail, name="letter-detail"),
    path(
        "handover/<int:pk>/book/",
        portal_handover.handover_booking,
        name="handover-booking",
    ),
    path("surveys/", portal_handover.surveys, name="surveys"),
]
