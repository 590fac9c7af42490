from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MarketingConfig(AppConfig):
    name = "marketing"
    verbose_name = _("Marketing")

    def ready(self) -> None:
        from crm_site import links, panels
        from marketing import handlers, merge_handlers
        from marketing.panels import referral_panel

        # A contracted deal makes referral rewards and partner commissions due.
        handlers.connect()
        # Referrals and partner registrations follow a merged customer.
        merge_handlers.connect()
        panels.register(
            template="marketing/_referral_panel.html",
            context=referral_panel,
            order=30,
        )
        links.register("marketing.referral", "marketing:referral-detail")
        links.register("marketing.channelpartner", "marketing:partner-detail")
