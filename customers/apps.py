from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "customers"
    verbose_name = _("Customers")

    def ready(self) -> None:
        from crm_site import fragments, links, outbox
        from customers import events, merge_handlers, personal_data  # noqa: F401
        from customers.models import Customer, SavedFilter, Tag
        from customers.services import portal as portal_sign_in

        links.register("customers.customer", "customers:customer-detail")
        # Importing customers.events registers what the app writes on a timeline.
        # The customers app moves its own rows in a merge, like every other app.
        merge_handlers.connect()
        # What customers holds about a person, for personal-information requests.
        personal_data.connect()
        # The list's cached filter selects offer tags (and users, tracked by crm_site).
        fragments.track(Tag, SavedFilter)
        # The customer list's total is remembered until a customer changes.
        fragments.track(Customer)
        # Owner portal sign-in codes go out through the one outbox.
        outbox.register(portal_sign_in.CODES)
        # The REST API's customers and their timelines (crm_site.api).
        from crm_site import api
        from customers.api import CustomerViewSet, InteractionViewSet

        api.register("customers", CustomerViewSet, basename="customer")
        api.register("interactions", InteractionViewSet, basename="interaction")

        # The screen pop (来电弹屏): the telephony system's endpoint, and the cache of
        # who has an extension kept in step with the admin.
        from django.urls import path

        from customers import telephony_api, telephony_signals

        api.register_path(
            path(
                "telephony/calls/",
                telephony_api.CallEventView.as_view(),
                name="telephony-calls",
            )
        )
        telephony_signals.connect()

        # Customer value: the fact table the other apps' contributions feed, and its
        # explorer source (customers.value).
        from customers import value

        value.register()

        # The webhook events this app sends (crm_site.webhooks).
        from customers import (
            insight_interactions,  # noqa: F401  (explorer source)
            webhooks,  # noqa: F401
        )
