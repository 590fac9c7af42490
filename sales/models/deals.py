"""Deals: opportunities, their stage history, unit holds and post-subscription changes."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm_site import events
from sales.models.approval import Decided
from sales.models.inventory import Project, Unit
from sales.querysets import OpportunityQuerySet


class Opportunity(models.Model):
    """A deal: one customer buying (perhaps) one unit of one project."""

    class Stage(models.TextChoices):
        NEW = "new", _("New lead")
        CONTACTED = "contacted", _("Contacted")
        VISITED = "visited", _("Visited")
        RESERVED = "reserved", _("Reserved")
        SUBSCRIBED = "subscribed", _("Subscribed")
        CONTRACTED = "contracted", _("Contract signed")
        PAID = "paid", _("Paid in full")
        LOST = "lost", _("Lost")

    class LostReason(models.TextChoices):
        PRICE = "price", _("Price too high")
        COMPETITOR = "competitor", _("Bought elsewhere")
        LOCATION = "location", _("Location")
        PRODUCT = "product", _("Layout or product")
        FINANCING = "financing", _("Could not finance")
        NO_RESPONSE = "no_response", _("No response")
        OTHER = "other", _("Other")

    # The moves a deal may make; anything else is refused.
    TRANSITIONS: dict[str, set[str]] = {
        Stage.NEW: {Stage.CONTACTED, Stage.VISITED, Stage.RESERVED, Stage.LOST},
        Stage.CONTACTED: {Stage.VISITED, Stage.RESERVED, Stage.LOST},
        Stage.VISITED: {Stage.RESERVED, Stage.SUBSCRIBED, Stage.LOST},
        Stage.RESERVED: {Stage.VISITED, Stage.SUBSCRIBED, Stage.LOST},
        Stage.SUBSCRIBED: {Stage.CONTRACTED, Stage.LOST},
        Stage.CONTRACTED: {Stage.PAID, Stage.LOST},
        Stage.PAID: {Stage.LOST},
        Stage.LOST: set(),
    }
    # A subscription or a signed contract ends only through a cancellation a sales
    # manager approved (sales.services.changes: the unit back on sale, the refund):
    # move_to() takes these moves only with that change.
    APPROVED_CHANGE_ONLY: frozenset[tuple[str, str]] = frozenset(
        {
            (Stage.SUBSCRIBED, Stage.LOST),
            (Stage.CONTRACTED, Stage.LOST),
            (Stage.PAID, Stage.LOST),
        }
    )
    OPEN_STAGES = (
        Stage.NEW,
        Stage.CONTACTED,
        Stage.VISITED,
        Stage.RESERVED,
        Stage.SUBSCRIBED,
        Stage.CONTRACTED,
    )

    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.PROTECT,
        related_name="opportunities",
        verbose_name=_("customer"),
    )
    project = models.ForeignKey(
        Project,
        on_delete=models.PROTECT,
        related_name="opportunities",
        verbose_name=_("project"),
    )
    unit = models.ForeignKey(
        Unit,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="opportunities",
        verbose_name=_("unit"),
    )
    consultant = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="opportunities",
        verbose_name=_("consultant"),
    )
    stage = models.CharField(
        _("stage"), max_length=20, choices=Stage.choices, default=Stage.NEW
    )
    lost_reason = models.CharField(
        _("lost reason"), max_length=20, choices=LostReason.choices, blank=True
    )
    lost_note = models.CharField(_("lost note"), max_length=200, blank=True)
    agreed_price = models.DecimalField(
        _("agreed price"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    # The discount in force (granted within the limit or approved); 0 when none.
    discount_percent = models.DecimalField(
        _("discount (%)"), max_digits=5, decimal_places=2, default=Decimal("0")
    )
    # Forfeits approved changes kept of the money received: still counted on the
    # plan's lines (on top of the price), no longer the buyer's. Kept here, under
    # the deal's row lock, so a change's money needs no query of earlier changes.
    forfeited = models.DecimalField(
        _("forfeited"), max_digits=14, decimal_places=2, default=Decimal("0")
    )
    # The marketing campaign credited with the deal (for its return); set when the
    # deal opens from the customer's latest campaign response, managers may change it.
    campaign = models.ForeignKey(
        "marketing.Campaign",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deals",
        verbose_name=_("campaign"),
    )
    created_at = models.DateTimeField(
        _("created"), default=timezone.now, editable=False
    )
    stage_changed_at = models.DateTimeField(default=timezone.now)
    # The buyer's name as on the contract, kept here when the customer's personal
    # information is anonymised: a signed contract is a legal record.
    buyer_name = models.CharField(
        _("buyer name on the contract"), max_length=100, blank=True, editable=False
    )

    objects = OpportunityQuerySet.as_manager()

    # Every change to these leaves an audit entry (crm_site.audit).
    AUDITED_FIELDS = [
        "customer",
        "project",
        "unit",
        "consultant",
        "stage",
        "lost_reason",
        "lost_note",
        "agreed_price",
        "discount_percent",
        "forfeited",
        "campaign",
    ]

    class Meta:
        verbose_name = _("opportunity")
        verbose_name_plural = _("opportunities")
        indexes = [
            models.Index(
                fields=["consultant", "stage", "-stage_changed_at"],
                name="opp_consultant_idx",
            ),
            models.Index(
                fields=["project", "stage", "-stage_changed_at"], name="opp_project_idx"
            ),
            models.Index(fields=["customer", "-created_at"], name="opp_customer_idx"),
            models.Index(
                fields=["campaign", "stage"],
                condition=Q(campaign__isnull=False),
                name="opp_campaign_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer} · {self.project}"

    def get_absolute_url(self) -> str:
        return reverse("sales:opportunity-detail", args=[self.pk])

    @property
    def is_open(self) -> bool:
        return self.stage in self.OPEN_STAGES

    def can_move_to(self, stage: str) -> bool:
        return stage in self.TRANSITIONS.get(self.stage, set()) and (
            (self.stage, stage) not in self.APPROVED_CHANGE_ONLY
        )

    def move_to(
        self,
        stage: str,
        *,
        actor,
        reason: str = "",
        note: str = "",
        because: events.Entry | None = None,
        when=None,
        change: DealChange | None = None,
    ) -> bool:
        """The one way a deal changes stage.

        Refuses an illegal move with ValidationError, does nothing (returns False) when
        the deal is already there, records the change and puts it on the customer's
        timeline. The caller holds the transaction (and the row lock where it matters).
        ``note`` is what a person wrote; ``because`` is the system's reason for the
        move (an event entry, e.g. sales.events.HOLD_EXPIRED), shown in the reader's
        language. ``change`` is the approved DealChange that allows ending a
        subscription or a signed contract (APPROVED_CHANGE_ONLY).
        """
        from crm_site import webhooks
        from crm_site.audit import audit_change, snapshot
        from customers.services import interaction_log
        from sales import events as sales_events

        if stage == self.stage:
            return False
        approved = (
            change is not None
            and change.opportunity_id == self.pk
            and change.status == DealChange.Status.APPROVED
            and (self.stage, stage) in self.APPROVED_CHANGE_ONLY
        )
        if not approved and not self.can_move_to(stage):
            raise ValidationError(
                _("A deal cannot move from %(old)s to %(new)s.")
                % {"old": self.get_stage_display(), "new": self.Stage(stage).label}
            )
        if stage == self.Stage.LOST and not reason:
            raise ValidationError(_("Say why the deal was lost."))
        old = self.stage
        before = snapshot(self, ["stage", "lost_reason", "lost_note"])
        self.stage = stage
        self.stage_changed_at = when or timezone.now()
        if stage == self.Stage.LOST:
            self.lost_reason = reason
            self.lost_note = note
        self.save(
            update_fields=["stage", "stage_changed_at", "lost_reason", "lost_note"]
        )
        audit_change(actor=actor, instance=self, before=before)
        StageChange.objects.create(
            opportunity=self,
            from_stage=old,
            to_stage=stage,
            changed_by=actor,
            note=note,
            event=because.code if because is not None else "",
            params=because.params if because is not None else {},
        )
        moved = {"project": self.project.name, "old": old, "new": stage}
        interaction_log(
            customer=self.customer,
            kind="system",
            entry=sales_events.DEAL_STAGE_BECAUSE(**moved, reason=because)
            if because is not None
            else sales_events.DEAL_STAGE(**moved),
            summary=note,
            actor=actor,
            link=self,
        )
        webhooks.emit(
            "deal.stage_changed",
            data={
                "deal_id": self.pk,
                "customer_id": self.customer_id,
                "from": old,
                "to": stage,
            },
        )
        if stage == self.Stage.CONTRACTED:
            from sales.signals import deal_contracted

            deal_contracted.send(sender=Opportunity, opportunity=self, actor=actor)
        return True

    move_to.alters_data = True


class CoBuyer(models.Model):
    """A co-buyer (共同购房人) named on a deal and on its documents: a member of the
    buyer's household. Set through sales.services.deals.deal_co_buyers_set."""

    opportunity = models.ForeignKey(
        Opportunity, on_delete=models.CASCADE, related_name="co_buyers"
    )
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("co-buyer"),
        on_delete=models.PROTECT,
        related_name="co_bought_deals",
    )
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("co-buyer")
        verbose_name_plural = _("co-buyers")
        constraints = [
            models.UniqueConstraint(
                fields=["opportunity", "customer"], name="co_buyer_once_per_deal"
            )
        ]
        indexes = [models.Index(fields=["customer"], name="co_buyer_customer_idx")]

    def __str__(self) -> str:
        return f"{self.opportunity_id}: {self.customer_id}"


class StageChange(models.Model):
    opportunity = models.ForeignKey(
        Opportunity, on_delete=models.CASCADE, related_name="stage_changes"
    )
    from_stage = models.CharField(max_length=20, choices=Opportunity.Stage.choices)
    to_stage = models.CharField(max_length=20, choices=Opportunity.Stage.choices)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(default=timezone.now)
    # What a person wrote; a move the system made for a reason of its own (a hold
    # expired) stores that reason as an event code and parameters (crm_site.events).
    note = models.CharField(_("note"), max_length=200, blank=True)
    event = models.CharField(max_length=60, blank=True)
    params = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["opportunity", "-changed_at"], name="stage_change_opp_idx"
            ),
            models.Index(
                fields=["to_stage", "changed_at"], name="stage_change_funnel_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.opportunity_id}: {self.from_stage} → {self.to_stage}"

    @property
    def text(self) -> str:
        """Why the deal moved, in the reader's language, then the person's note."""
        return events.text_of(self.event, self.params, self.note)


class UnitHold(models.Model):
    """A unit held for a deal (认筹/预留) until a deadline. The row is what the expiry
    job works from, so a lost message never leaves a unit held forever."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Holding")
        CONVERTED = "converted", _("Subscribed")
        RELEASED = "released", _("Released")
        EXPIRED = "expired", _("Expired")

    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="holds")
    opportunity = models.ForeignKey(
        Opportunity, on_delete=models.PROTECT, related_name="holds"
    )
    held_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    held_at = models.DateTimeField(default=timezone.now)
    held_until = models.DateTimeField(_("held until"))
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.ACTIVE
    )
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("unit hold")
        verbose_name_plural = _("unit holds")
        constraints = [
            # The database itself refuses a second live hold on one unit.
            models.UniqueConstraint(
                fields=["unit"],
                condition=Q(status="active"),
                name="unit_hold_one_active",
            )
        ]
        indexes = [
            models.Index(
                fields=["held_until"],
                condition=Q(status="active"),
                name="unit_hold_due_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.unit} until {self.held_until:%Y-%m-%d %H:%M}"


class DealChange(Decided):
    """A change to a subscribed deal — cancellation, another unit, another buyer —
    that only takes effect once a sales manager approves it. The rows are the history."""

    class Kind(models.TextChoices):
        CANCEL = "cancel", _("Cancel the purchase")
        CHANGE_UNIT = "change_unit", _("Change to another unit")
        CHANGE_BUYER = "change_buyer", _("Change the buyer")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for approval")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    opportunity = models.ForeignKey(
        Opportunity, on_delete=models.CASCADE, related_name="changes"
    )
    kind = models.CharField(_("change"), max_length=20, choices=Kind.choices)
    new_unit = models.ForeignKey(
        Unit,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("new unit"),
    )
    new_customer = models.ForeignKey(
        "customers.Customer",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("new buyer"),
    )
    reason = models.CharField(_("reason"), max_length=200)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.PENDING
    )
    # What the deal looked like before the approved change (unit, customer, price).
    before = models.JSONField(default=dict, blank=True)
    # The stage the deal was at when the change was asked (subscribed, contracted,
    # paid): the project's rules differ by it.
    stage = models.CharField(
        max_length=20, choices=Opportunity.Stage.choices, blank=True
    )
    # The project's fee for this change (a change of buyer), fixed when approved.
    fee = models.DecimalField(
        _("fee"), max_digits=14, decimal_places=2, default=Decimal("0")
    )
    # What the developer kept of the buyer's money on this change (the project's
    # forfeit of a cancellation, or of a change of unit that does not keep the
    # money), fixed when approved.
    forfeit = models.DecimalField(
        _("forfeit"), max_digits=14, decimal_places=2, default=Decimal("0")
    )

    class Meta:
        verbose_name = _("deal change")
        verbose_name_plural = _("deal changes")
        constraints = [
            models.UniqueConstraint(
                fields=["opportunity"],
                condition=Q(status="pending"),
                name="deal_change_one_pending",
            )
        ]
        indexes = [
            models.Index(
                fields=["status", "requested_at"], name="deal_change_status_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.opportunity_id} {self.kind} {self.status}"
