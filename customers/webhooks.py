"""The webhook events customers sends (crm_site.webhooks), registered in ready()."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from crm_site.webhooks import register_event

CUSTOMER = ("customers/{}/", "customer_id")

register_event(
    "customer.created",
    _("A customer was registered"),
    permission="customers.view_customer",
    resource=CUSTOMER,
)
register_event(
    "customer.updated",
    _("A customer's record changed"),
    permission="customers.view_customer",
    resource=CUSTOMER,
)
register_event(
    "customer.merged",
    _("Two customer records were merged into one"),
    permission="customers.view_customer",
    resource=CUSTOMER,
)
register_event(
    "interaction.logged",
    _("A touch point was put on a customer's timeline"),
    permission="customers.view_customer",
    resource=CUSTOMER,
)
