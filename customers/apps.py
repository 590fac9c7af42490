from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "customers"
    verbose_name = _("Customers")

    def ready(self) -> None:
        from crm_site import links
        from customers import events, merge_handlers, personal_data  # noqa: F401

        links.register("customers.customer", "customers:customer-detail")
        # Importing customers.events registers what the app writes on a timeline.
        # The customers app moves its own rows in a merge, like every other app.
        merge_handlers.connect()
        # What customers holds about a person, for personal-information requests.
        personal_data.connect()
        from crm_site import outbox
        from customers.services import portal as portal_sign_in

        # Owner portal sign-in codes go out through the one outbox.
        outbox.register(portal_sign_in.CODES)
