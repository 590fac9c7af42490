"""The webhook events marketing sends (crm_site.webhooks), registered in ready()."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from crm_site.webhooks import register_event

register_event(
    "referral.reward_due",
    _("A referrer's reward became due (the friend signed a contract)"),
    permission="marketing.view_referral",
    resource=("customers/{}/", "referrer_id"),
)
