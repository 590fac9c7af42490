"""Sales' fact tables for the explorer (crm_site.insight): derived rows, never edited.

They hold no foreign keys: a fact follows its live row through the refresh, and must
never hold up a delete or a merge of what it describes.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from sales.models.deals import Opportunity


class Outcome(models.TextChoices):
    WON = "won", _("Won")
    LOST = "lost", _("Lost")


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
    # Won (under contract or paid) or lost, and the month it happened; open: blank.
    outcome = models.CharField(max_length=4, choices=Outcome.choices, blank=True)
    closed_month = models.DateField(null=True)
    # The deal's first visit (首访): the customer's first visit logged from 90 days
    # before the deal opened, or the deal's first move to visited or beyond, whichever
    # came first; NULL for a deal never visited. Its month is the deal's cohort.
    first_visit_on = models.DateField(null=True)
    visit_month = models.DateField(null=True)
    # The months the deal first reached subscription (认购) and contract (签约),
    # kept even when the deal was cancelled afterwards: the cohorts count events.
    subscribed_month = models.DateField(null=True)
    contracted_month = models.DateField(null=True)

    class Meta:
        verbose_name = _("deal fact")
        indexes = [
            models.Index(
                fields=["closed_month", "outcome"],
                condition=models.Q(closed_month__isnull=False),
                name="dealfact_closed",
            ),
            models.Index(
                fields=["visit_month", "project_id"],
                condition=models.Q(visit_month__isnull=False),
                name="dealfact_cohort",
            ),
            models.Index(fields=["created_month", "project_id"], name="dealfact_month"),
            models.Index(fields=["team_id", "created_month"], name="dealfact_team"),
            # A manager's scope also counts the deals at their team's projects whose
            # consultant's team does not sell them (sales.querysets.team_deals).
            models.Index(
                fields=["project_id", "team_id"], name="dealfact_project_team"
            ),
            models.Index(
                fields=["consultant_id", "created_month"], name="dealfact_consultant"
            ),
            models.Index(fields=["stage", "lost_reason"], name="dealfact_stage"),
        ]

    def __str__(self) -> str:
        return f"deal {self.deal_id}"


class StageDuration(models.Model):
    """One row per deal and stage it has been in: when it entered (the first stage
    at the deal's creation), when it left (NULL while it is still there) and the days
    spent, summed over every stay when the deal came back to the stage. Kept by
    sales.insight.STAGE_DURATIONS from the stage history."""

    class Bucket(models.TextChoices):
        D0 = "d00", _("under 1 day")
        D1 = "d01", _("1–3 days")
        D3 = "d03", _("3–7 days")
        D7 = "d07", _("7–14 days")
        D14 = "d14", _("14–30 days")
        D30 = "d30", _("30–60 days")
        D60 = "d60", _("over 60 days")

    # A bucket's bit in buckets_before... ("": still in the stage).
    BUCKET_BITS = ("", *Bucket.values)

    # deal_id * 16 + the stage's place in Opportunity.Stage: one row per deal and stage.
    id = models.BigIntegerField(primary_key=True)
    deal_id = models.BigIntegerField()
    stage = models.CharField(max_length=20, choices=Opportunity.Stage.choices)
    entered_at = models.DateTimeField()
    left_at = models.DateTimeField(null=True)
    days = models.DecimalField(max_digits=9, decimal_places=2, null=True)
    bucket = models.CharField(max_length=3, choices=Bucket.choices, blank=True)
    project_id = models.BigIntegerField()
    consultant_id = models.BigIntegerField()
    team_id = models.BigIntegerField(null=True)
    channel = models.CharField(max_length=20, blank=True)
    entered_month = models.DateField()
    # True on one row per deal (its first stage): the explorer counts a deal once
    # however many stages it went through (crm_site.insight.Measure.first).
    first = models.BooleanField(default=False)
    # True on one row per deal and month entered (its first stay entered that month),
    # on one row per deal and time bucket, and on one per deal, month and bucket.
    first_in_month = models.BooleanField(default=False)
    first_in_bucket = models.BooleanField(default=False)
    first_in_month_bucket = models.BooleanField(default=False)
    # The deal's latest month entered before this row's (NULL: none), and the latest
    # before it with a stay in this row's bucket. Under a filter on a run of
    # consecutive months, a deal's first_in_month row whose prev_month is before the
    # run is its one row of the run (the same per bucket): counted without DISTINCT.
    prev_month = models.DateField(null=True)
    prev_month_in_bucket = models.DateField(null=True)
    # The stages (bit: the stage's place in Opportunity.Stage) of the deal's rows
    # before this one in stage order, and the time buckets (bit: the place in
    # BUCKET_BITS) of its rows before this one in bucket order: among all its rows,
    # among those of this row's bucket, among those of this row's month. Under a
    # filter on several stages or buckets, a row whose mask meets none of them is the
    # deal's first row there, counted once without DISTINCT (Measure.masks).
    stages_before = models.SmallIntegerField(default=0)
    stages_before_in_bucket = models.SmallIntegerField(default=0)
    stages_before_in_month = models.SmallIntegerField(default=0)
    buckets_before = models.SmallIntegerField(default=0)
    buckets_before_in_month = models.SmallIntegerField(default=0)

    class Meta:
        verbose_name = _("stage duration")
        indexes = [
            models.Index(fields=["deal_id"], name="stagedur_deal"),
            models.Index(
                fields=["entered_month", "project_id", "stage"], name="stagedur_month"
            ),
            models.Index(fields=["team_id", "entered_month"], name="stagedur_team"),
            # The second branch of a manager's scope (sales.querysets.team_deals).
            models.Index(
                fields=["project_id", "team_id"], name="stagedur_project_team"
            ),
            models.Index(
                fields=["consultant_id", "entered_month"], name="stagedur_consultant"
            ),
        ]

    def __str__(self) -> str:
        return f"deal {self.deal_id} in {self.stage}"
