"""What the marketing app writes on timelines and notifications, as events
(crm_site.events). Imported by MarketingConfig.ready()."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from crm_site import events

# Timeline entries -------------------------------------------------------------------

INVITED = events.register(
    "marketing.invited",
    _("Invited to campaign %(campaign)s"),
    campaign=events.Text(),
)
SIGNED_UP = events.register(
    "marketing.signed_up", _("Signed up for %(campaign)s"), campaign=events.Text()
)
CHECKED_IN = events.register(
    "marketing.checked_in", _("Checked in at %(campaign)s"), campaign=events.Text()
)
PARTNER_REGISTERED = events.register(
    "marketing.partner_registered",
    _("Registered at %(project)s by channel partner %(partner)s"),
    project=events.Text(),
    partner=events.Text(),
)
REFERRED = events.register(
    "marketing.referred", _("Referred %(name)s"), name=events.Text()
)
REFERRED_BY = events.register(
    "marketing.referred_by", _("Referred by %(name)s"), name=events.Text()
)
REWARD_DUE = events.register(
    "marketing.reward_due",
    _("Referral reward of %(amount)s due: %(name)s signed a contract"),
    amount=events.Money(),
    name=events.Text(),
)

# What an owner does in the owner portal (channel "portal") --------------------------

RECOMMENDED_IN_PORTAL = events.register(
    "marketing.recommended_in_portal",
    _("Recommended a friend in the owner portal: %(name)s"),
    name=events.Text(),
)
RECOMMENDATION_DECLINED = events.register(
    "marketing.recommendation_declined",
    _(
        "Recommended a friend in the owner portal: %(name)s. Not recorded as a "
        "referral: %(outcome)s (the owner was not told)."
    ),
    name=events.Text(),
    outcome=events.Choice(model="marketing.Recommendation", field_name="outcome"),
)
SIGNED_UP_IN_PORTAL = events.register(
    "marketing.signed_up_in_portal",
    _("Signed up in the owner portal for %(campaign)s"),
    campaign=events.Text(),
)

# Notifications ----------------------------------------------------------------------

NO_CONSULTANT = events.register(
    "marketing.no_consultant",
    _(
        "%(customer)s answered %(campaign)s; %(project)s has no consultant, so the customer stays in the public pool."
    ),
    customer=events.Text(),
    campaign=events.Text(),
    project=events.Text(),
)
NEW_LEAD = events.register(
    "marketing.new_lead",
    _("New lead from campaign %(campaign)s: %(customer)s"),
    campaign=events.Text(),
    customer=events.Text(),
)
REWARD_DUE_NOTICE = events.register(
    "marketing.reward_due_notice",
    _("Referral reward due to %(referrer)s: %(name)s signed a contract."),
    referrer=events.Text(),
    name=events.Text(),
)

PORTAL_REFERRAL_NOTICE = events.register(
    "marketing.portal_referral_notice",
    _("%(referrer)s recommended a friend in the owner portal: %(name)s."),
    referrer=events.Text(),
    name=events.Text(),
)

# Why a registration was made (OwnershipEvent.event) ----------------------------------

REGISTERED_BY_PARTNER = events.register(
    "marketing.registered_by_partner",
    _("Registered by channel partner %(partner)s"),
    partner=events.Text(),
)
LEAD_FROM_CAMPAIGN = events.register(
    "marketing.lead_from_campaign",
    _("Lead from campaign %(campaign)s"),
    campaign=events.Text(),
)
