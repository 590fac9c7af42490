"""Sales' fact tables for the explorer (crm_site.insight): derived rows, never edited.

They hold no foreign keys: a fact follows its live row through the refresh, and must
never hold up a delete or a merge of what it describes.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from sales.models.deals import Opportunity


class DealFact(models.Model):
    """One row per deal: who, where, through which channel, how far it got, for how
    much and how fast. Kept by sales.insight.DEALS."""

    deal_id = models.BigIntegerField(primary_key=True)
    customer_id = models.BigIntegerField()
    project_id = models.BigIntegerField()
    building_id = models.BigIntegerField(null=True)
    layout = models.CharField(max_length=50, blank=True)
    consultant_id = models.BigIntegerField()
    team_id = models.BigIntegerField(null=True)
    # The customer's source channel (customers.Customer.source).
    channel = models.CharField(max_length=20, blank=True)
    campaign_id = models.BigIntegerField(null=True)
    stage = models.CharField(max_length=20, choices=Opportunity.Stage.choices)
    # The furthest stage the deal reached before it was lost (or its stage now).
    reached = models.CharField(max_length=20, choices=Opportunity.Stage.choices)
    lost_reason = models.CharField(
        max_length=20, choices=Opportunity.LostReason.choices, blank=True
    )
    created_month = models.DateField()
    created_on = models.DateField()
    contracted_on = models.DateField(null=True)
    lost_on = models.DateField(null=True)
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    # The agreed price of a deal under contract (contracted or paid), else NULL.
    contract_amount = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    days_to_contract = models.IntegerField(null=True)

    class Meta:
        verbose_name = _("deal fact")
        indexes = [
            models.Index(fields=["created_month", "project_id"], name="dealfact_month"),
            models.Index(fields=["team_id", "created_month"], name="dealfact_team"),
            models.Index(
                fields=["consultant_id", "created_month"], name="dealfact_consultant"
            ),
            models.Index(fields=["stage", "lost_reason"], name="dealfact_stage"),
        ]

    def __str__(self) -> str:
        return f"deal {self.deal_id}"
