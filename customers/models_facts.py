"""Customers' fact tables for the explorer (crm_site.insight): derived rows, never
edited. Imported at the bottom of customers.models so Django sees the models.

They hold no foreign keys: a fact follows its live rows through the refresh, and must
never hold up a delete or a merge of what it describes.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils.translation import gettext_lazy as _

from customers.models import Channel, Interaction


class InteractionFact(models.Model):
    """How many interactions (跟进记录) of one kind, through one channel, one author
    logged in one month, for customers seen by the same people: one row per group,
    kept by customers.insight_interactions.INTERACTIONS.

    Five million interactions make a few hundred thousand rows at most. The customer
    columns (owned or in the pool, owner's team, who else may see them, consent,
    buyer or owner) are what Customer.visible_to looks at, so a manager's scope selects
    the same interactions here as on the follow-up records list.
    """

    # Months since year 0 (year * 12 + month - 1), in the site's time zone: the key the
    # triggers mark dirty; a refresh recounts whole months.
    month_key = models.IntegerField()
    month = models.DateField()
    kind = models.CharField(max_length=20, choices=Interaction.Kind.choices)
    channel = models.CharField(max_length=20, choices=Channel.choices, blank=True)
    # Who logged them (Interaction.created_by) and that user's team.
    consultant_id = models.BigIntegerField(null=True)
    team_id = models.BigIntegerField(null=True)
    # Whether the customers have an owner (assigned consultant), and the owner's
    # team. Not the owner: that would multiply the rows by the consultants for a rule
    # (scope_own) no role that analyses follow-ups has.
    owned = models.BooleanField()
    owner_team_id = models.BigIntegerField(null=True)
    # Users with CustomerAccess to the customers, and their teams (sorted, distinct).
    access_users = ArrayField(models.BigIntegerField(), default=list)
    access_teams = ArrayField(models.BigIntegerField(), default=list)
    # The customers agreed to SMS, e-mail or calls (scope_consented) / are buyers or
    # owners (scope_service).
    consented = models.BooleanField()
    service = models.BooleanField()
    interactions = models.IntegerField()

    class Meta:
        verbose_name = _("interaction fact")
        indexes = [
            models.Index(fields=["month_key"], name="interactionfact_key"),
            models.Index(fields=["month", "kind"], name="interactionfact_month"),
            models.Index(
                fields=["owner_team_id", "month"], name="interactionfact_team"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.kind}: {self.interactions}"
