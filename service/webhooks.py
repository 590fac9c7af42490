"""The webhook events service sends (crm_site.webhooks), registered in ready()."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from crm_site.webhooks import register_event

REQUEST = ("service-requests/{}/", "service_request_id")

register_event(
    "service_request.created",
    _("A service request was recorded"),
    permission="service.view_service_request",
    resource=REQUEST,
)
register_event(
    "service_request.status_changed",
    _("A service request changed status"),
    permission="service.view_service_request",
    resource=REQUEST,
)
register_event(
    "service_request.closed",
    _("A service request was closed"),
    permission="service.view_service_request",
    resource=REQUEST,
)
register_event(
    "survey.answered",
    _("An owner answered a satisfaction survey"),
    permission="service.view_service_management",
    resource=("surveys/{}/", "survey_id"),
)
