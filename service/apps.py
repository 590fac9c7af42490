from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ServiceConfig(AppConfig):
    name = "service"
    verbose_name = _("Service")

    def ready(self) -> None:
        from crm_site import outbox
        from service import (
            events,  # noqa: F401  (registers what service writes)
            handover,
            portal_requests,
            surveys,
        )

        # Notices, surveys and reminders are sent by the one outbox (crm_site.outbox).
        outbox.register(handover.NOTICES)
        outbox.register(surveys.INVITATIONS)
        outbox.register(surveys.REMINDERS)
        # Messages to owners about their portal requests and letters.
        outbox.register(portal_requests.NOTICES)
        from crm_site import links
        from service import merge_handlers, personal_data

        links.register("service.servicerequest", "service:request-detail")
        links.register("service.handoverappointment", "service:handover-appointment")
        links.register("service.ownerletter", "service:letter-detail")
        merge_handlers.connect()
        from service import sales_handlers

        # A handover appointment follows its deal (退房, 更名): sales.signals.
        sales_handlers.connect()
        from service import overview as service_overview

        # Service's figures on the managers' overview.
        service_overview.register()
        # What work orders and chargebacks cost, in customer value (customers.value).
        from service import value as service_value

        service_value.register()
        # What service holds about a person, for personal-information requests.
        personal_data.connect()
        from service import points

        # A survey answered earns member-club points (marketing's registry).
        points.register()
        from service import portal as service_portal

        # The owners' portal: handover and inspection under each home, the open
        # surveys, and handover owners may sign in.
        service_portal.register()
        from crm_site import portal

        # The owners' portal: repairs and complaints, and the GM mailbox.
        portal.register(
            "service.requests",
            title=_("Repairs"),
            url_name="service_portal:request-list",
            order=30,
            icon="bi-tools",
        )
        portal.register(
            "service.letters",
            title=_("GM mailbox"),
            url_name="service_portal:letter-list",
            order=70,
            icon="bi-envelope-paper",
        )
        from crm_site import api
        from service.api import ServiceRequestViewSet, SurveyResultViewSet

        # The REST API: requests from the hotline or WeChat, and survey results.
        api.register(
            "service-requests", ServiceRequestViewSet, basename="service-request"
        )
        api.register("surveys", SurveyResultViewSet, basename="survey")

        # The screen pop card's service section (customers.telephony).
        from service import telephony as service_telephony

        service_telephony.register()

        # The request and work-order facts, and their sources in the explorer.
        from service import insight as service_insight

        service_insight.register()

        # The webhook events this app sends (crm_site.webhooks).
        from service import webhooks  # noqa: F401
