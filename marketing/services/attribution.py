"""Which campaign a deal is credited to; managers may correct it."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from crm_site.audit import audit_record
from crm_site.models import AuditEntry, User
from marketing.models import Campaign
from sales.models import Opportunity


@transaction.atomic
def deal_campaign_set(
    *, actor: User, deal: Opportunity, campaign: Campaign | None
) -> Opportunity:
    locked = Opportunity.objects.select_for_update().get(pk=deal.pk)
    if locked.campaign_id == (campaign.pk if campaign else None):
        return locked  # unchanged: a credit given before a cancellation stays
    if (
        campaign is not None
        and not Campaign.objects.may_credit(locked.project_id)
        .filter(pk=campaign.pk)
        .exists()
    ):
        raise ValidationError(
            _("A deal can only be credited to a campaign of its project.")
        )
    old = locked.campaign
    locked.campaign = campaign
    locked.save(update_fields=["campaign"])
    audit_record(
        actor=actor,
        instance=locked,
        action=AuditEntry.Action.UPDATE,
        changes={"campaign": {"old": str(old or ""), "new": str(campaign or "")}},
    )
    return locked
