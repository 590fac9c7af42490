from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MarketingConfig(AppConfig):
    name = "marketing"
    verbose_name = _("Marketing")

    def ready(self) -> None:
        from crm_site import outbox
        from marketing import events  # noqa: F401  (registers what marketing writes)
        from marketing.services.invitations import INVITATIONS

        # Campaign invitations are sent by the one outbox (crm_site.outbox).
        outbox.register(INVITATIONS)
        from crm_site import fragments, links, panels
        from marketing import handlers, merge_handlers, personal_data
        from marketing.panels import campaign_panel, referral_panel
        from marketing.selectors import latest_campaign_of
        from sales import attribution
        from sales.models import Project

        # A deal opened for a customer who answered a campaign is credited to it.
        attribution.register(latest_campaign_of)
        # A contracted deal makes referral rewards and partner commissions due.
        handlers.connect()
        # Campaign memberships, referrals and partner registrations follow a merge.
        merge_handlers.connect()
        # What marketing holds about a person, for personal-information requests.
        personal_data.connect()
        # The referral form's project choices are cached until a project changes.
        fragments.track(Project)
        panels.register(
            template="marketing/_referral_panel.html",
            context=referral_panel,
            order=30,
            shown_to=lambda user: (
                user.has_perm("marketing.add_referral")
                or user.has_perm("marketing.view_referral")
            ),
        )
        panels.register(
            template="marketing/_campaign_panel.html",
            context=campaign_panel,
            order=35,
        )
        from marketing import point_sources
        from marketing.panels import club_panel
        from marketing.services import club

        # The member club: the sources marketing sees itself (other apps register
        # theirs), the hourly sweep, and the member's card on the customer page.
        point_sources.register()
        club.register_jobs()
        panels.register(
            template="marketing/_club_panel.html",
            context=club_panel,
            order=32,
            shown_to=lambda user: user.has_perm("marketing.view_pointentry"),
        )
        from marketing import portal as marketing_portal

        # The owners' portal: recommend a friend, and the member club.
        marketing_portal.register()
        from marketing import overview as marketing_overview

        # The top campaigns on the managers' overview.
        marketing_overview.register()
        # Referred buyers' contracted value, in customer value (customers.value).
        from marketing import value as marketing_value

        marketing_value.register()
        links.register("marketing.campaign", "marketing:campaign-detail")
        links.register("marketing.referral", "marketing:referral-detail")
        links.register("marketing.channelpartner", "marketing:partner-detail")
        from crm_site import api
        from marketing.api import CampaignViewSet

        # The REST API: running campaigns and landing-page sign-ups.
        api.register("campaigns", CampaignViewSet, basename="campaign")

        # The webhook events this app sends (crm_site.webhooks).
        from marketing import webhooks  # noqa: F401
