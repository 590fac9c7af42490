from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MarketingConfig(AppConfig):
    name = "marketing"
    verbose_name = _("Marketing")

    def ready(self) -> None:
        from crm_site import links
        from marketing import campaign_merge
        from marketing.selectors import latest_campaign_of
        from sales import attribution

        # A deal opened for a customer who answered a campaign is credited to it.
        attribution.register(latest_campaign_of)
        # Timeline entries about a campaign link to it; memberships follow merges.
        links.register("marketing.campaign", "marketing:campaign-detail")
        campaign_merge.connect()
