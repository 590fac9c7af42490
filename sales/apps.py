from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SalesConfig(AppConfig):
    name = "sales"
    verbose_name = _("Sales")

    def ready(self) -> None:
        from crm_site import outbox
        from sales import events  # noqa: F401  (registers what sales writes)
        from sales.services import reminders

        # Digests are sent by the one outbox; the morning digest and the hourly lapse
        # warning run once per period, caught up after an outage (crm_site.jobs).
        outbox.register(reminders.DIGESTS)
        reminders.register_jobs()
        from crm_site import links
        from sales import merge_handlers, personal_data

        # Deals follow a customer who is merged into another.
        merge_handlers.connect()
        # What sales holds about a person, for personal-information requests.
        personal_data.connect()
        from crm_site import panels
        from customers.signals import interaction_logged
        from sales.panels import customer_panel

        # The panel's reassign choices (the consultants of the teams selling each
        # project) are cached until a user or a group membership changes (crm_site
        # tracks users).
        # A visit or call logged on the customer page renews protection: the panel
        # is re-rendered in place with the timeline.
        panels.register(
            template="sales/_customer_panel.html",
            context=customer_panel,
            order=10,
            refresh_on_log=True,
            shown_to=lambda user: user.has_perm("sales.view_sales_desk"),
        )
        # A consultant's visit or call registers or renews ownership (sales' rule).
        interaction_logged.connect(
            _on_interaction_logged, dispatch_uid="sales.registration_on_interaction"
        )

        from sales import insight as sales_insight
        from sales import overview as sales_overview

        # Deals in the explorer: the deal fact table and its source.
        sales_insight.register()
        # What contracted deals add to customer value (customers.value).
        from sales import value as sales_value

        sales_value.register()

        # Sales' figures on the managers' overview, and the project filter's choices.
        sales_overview.register()

        from sales import portal as sales_portal

        # Who may sign in to the owners' portal and whose records they see; the
        # portal's sales sections (my homes, my payments).
        sales_portal.register()

        links.register("sales.opportunity", "sales:opportunity-detail")
        links.register("sales.unit", "sales:unit-detail")
        links.register("sales.building", "sales:building-grid")
        # The REST API's inventory and deals (crm_site.api).
        from crm_site import api
        from sales.api import BuildingViewSet, DealViewSet, ProjectViewSet, UnitViewSet

        api.register("projects", ProjectViewSet, basename="project")
        api.register("buildings", BuildingViewSet, basename="building")
        api.register("units", UnitViewSet, basename="unit")
        api.register("deals", DealViewSet, basename="deal")

        # The screen pop card's sales section (customers.telephony).
        from sales import telephony as sales_telephony

        sales_telephony.register()

        # Opening day's screens (the big screen, the selection desk, buyers' phones)
        # listen on "opening:<session>": every sale must reach every screen, so a
        # session's events are kept for 15 minutes (a screen that reconnects late still
        # replays them), streams last two minutes (fewer reconnects in the rush) and a
        # sale waits up to 2 s for Redis rather than go unannounced.
        from crm_site import live

        live.register_kind(
            "opening",
            keep_events=5000,
            keep_seconds=900,
            stream_seconds=120.0,
            publish_timeout=2.0,
            # Many sales a second: a reconnecting screen replays the last two
            # seconds too, so a sale published out of order is not lost.
            replay_slack_ms=2000,
        )

        # The webhook events this app sends (crm_site.webhooks).
        from sales import webhooks  # noqa: F401

        # Opening day (issue 16, deposits): each buyer's number and slot by SMS through
        # the one outbox; the deposit page is where timeline entries link to.
        from sales.services import lottery

        outbox.register(lottery.NOTICES)
        links.register("sales.intentdeposit", "sales:deposit-detail")


def _on_interaction_logged(sender, *, interaction, **kwargs) -> None:
    from sales.services.ownership import registration_on_interaction

    registration_on_interaction(interaction=interaction)
