"""The webhook events sales sends (crm_site.webhooks), registered in ready()."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from crm_site.webhooks import register_event

register_event(
    "deal.stage_changed",
    _("A deal moved to another stage"),
    permission="sales.view_sales_desk",
    resource=("deals/{}/", "deal_id"),
)
register_event(
    "unit.status_changed",
    _("A unit's status changed (available, reserved, sold …)"),
    permission="sales.view_sales_desk",
    resource=("units/{}/", "unit_id"),
)
