from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SalesConfig(AppConfig):
    name = "sales"
    verbose_name = _("Sales")

    def ready(self) -> None:
        from crm_site import links
        from sales import merge_handlers

        # Deals follow a customer who is merged into another.
        merge_handlers.connect()

        links.register("sales.opportunity", "sales:opportunity-detail")
        links.register("sales.unit", "sales:unit-detail")
        links.register("sales.building", "sales:building-grid")
