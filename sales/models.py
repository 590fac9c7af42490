"""Sales: inventory (project → building → unit), opportunities and unit holds."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from sales.querysets import OpportunityQuerySet


class SalesAccess(models.Model):
    """Holds the sales permissions; no table."""

    class Meta:
        managed = False
        default_permissions = ()
        verbose_name = _("sales access")
        permissions = [
            ("use_sales", _("Can use the sales desk")),
            ("manage_sales", _("Can manage sales teams")),
            ("manage_inventory", _("Can manage projects, buildings and units")),
        ]

    def __str__(self) -> str:
        return str(self._meta.verbose_name)


class Project(models.Model):
    """A development (楼盘) sold from one sales office."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    city = models.CharField(_("city"), max_length=50, blank=True)
    address = models.CharField(_("address"), max_length=200, blank=True)
    # A consultant may grant a discount up to this share of the list price on their own.
    discount_limit = models.DecimalField(
        _("consultant discount limit (%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("2.00"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    hold_days = models.PositiveSmallIntegerField(
        _("reservation hold (days)"), default=3
    )
    is_active = models.BooleanField(_("on sale"), default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("project")
        verbose_name_plural = _("projects")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Building(models.Model):
    project = models.ForeignKey(
        Project,
        on_delete=models.PROTECT,
        related_name="buildings",
        verbose_name=_("project"),
    )
    name = models.CharField(_("name"), max_length=50)
    floors = models.PositiveSmallIntegerField(_("floors"))
    units_per_floor = models.PositiveSmallIntegerField(_("units per floor"))
    # Floor numbers that do not exist (4, 14...): the floor above takes the next number.
    skipped_floors = models.JSONField(
        _("skipped floor numbers"), default=list, blank=True
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("building")
        verbose_name_plural = _("buildings")
        ordering = ["project", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "name"], name="building_unique_name"
            )
        ]

    def __str__(self) -> str:
        return f"{self.project.name} {self.name}"

    def get_absolute_url(self) -> str:
        return reverse("sales:building-grid", args=[self.pk])


class Unit(models.Model):
    class Status(models.TextChoices):
        AVAILABLE = "available", _("Available")
        RESERVED = "reserved", _("Reserved")
        SUBSCRIBED = "subscribed", _("Subscribed")
        CONTRACTED = "contracted", _("Contracted")
        HANDED_OVER = "handed_over", _("Handed over")
        NOT_FOR_SALE = "not_for_sale", _("Not for sale")

    class Orientation(models.TextChoices):
        SOUTH = "S", _("South")
        NORTH = "N", _("North")
        EAST = "E", _("East")
        WEST = "W", _("West")
        SOUTH_EAST = "SE", _("South-east")
        SOUTH_WEST = "SW", _("South-west")
        NORTH_SOUTH = "NS", _("North-south through")

    building = models.ForeignKey(
        Building,
        on_delete=models.PROTECT,
        related_name="units",
        verbose_name=_("building"),
    )
    number = models.CharField(_("unit number"), max_length=20)
    floor = models.SmallIntegerField(_("floor"))
    position = models.PositiveSmallIntegerField(_("position on the floor"))
    layout = models.CharField(_("layout"), max_length=50, blank=True)
    gross_area = models.DecimalField(
        _("gross area (m²)"), max_digits=8, decimal_places=2
    )
    net_area = models.DecimalField(
        _("net area (m²)"), max_digits=8, decimal_places=2, null=True, blank=True
    )
    orientation = models.CharField(
        _("orientation"), max_length=2, choices=Orientation.choices, blank=True
    )
    list_price = models.DecimalField(_("list price"), max_digits=14, decimal_places=2)
    floor_price = models.DecimalField(
        _("floor price"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.AVAILABLE
    )
    status_changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("unit")
        verbose_name_plural = _("units")
        ordering = ["building", "-floor", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["building", "number"], name="unit_unique_number"
            ),
            models.UniqueConstraint(
                fields=["building", "floor", "position"], name="unit_unique_position"
            ),
        ]
        indexes = [models.Index(fields=["building", "status"], name="unit_status_idx")]

    def __str__(self) -> str:
        return f"{self.building} {self.number}"

    def get_absolute_url(self) -> str:
        return reverse("sales:unit-detail", args=[self.pk])

    @property
    def unit_price(self) -> Decimal:
        """Price per m² of gross area."""
        if not self.gross_area:
            return Decimal("0")
        return (self.list_price / self.gross_area).quantize(Decimal("1"))


class PriceChange(models.Model):
    """Every change of a unit's list price: who, when, why."""

    unit = models.ForeignKey(
        Unit, on_delete=models.CASCADE, related_name="price_changes"
    )
    old_price = models.DecimalField(max_digits=14, decimal_places=2)
    new_price = models.DecimalField(max_digits=14, decimal_places=2)
    reason = models.CharField(_("reason"), max_length=200)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("price change")
        verbose_name_plural = _("price changes")
        indexes = [
            models.Index(fields=["unit", "-changed_at"], name="price_change_unit_idx")
        ]

    def __str__(self) -> str:
        return f"{self.unit_id}: {self.old_price} → {self.new_price}"


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
        Stage.CONTRACTED: {Stage.PAID},
        Stage.PAID: set(),
        Stage.LOST: set(),
    }
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
    created_at = models.DateTimeField(
        _("created"), default=timezone.now, editable=False
    )
    stage_changed_at = models.DateTimeField(default=timezone.now)

    objects = OpportunityQuerySet.as_manager()

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
        ]

    def __str__(self) -> str:
        return f"{self.customer} · {self.project}"

    def get_absolute_url(self) -> str:
        return reverse("sales:opportunity-detail", args=[self.pk])

    @property
    def is_open(self) -> bool:
        return self.stage in self.OPEN_STAGES

    def can_move_to(self, stage: str) -> bool:
        return stage in self.TRANSITIONS.get(self.stage, set())

    def move_to(
        self, stage: str, *, actor, reason: str = "", note: str = "", when=None
    ) -> bool:
        """The one way a deal changes stage.

        Refuses an illegal move with ValidationError, does nothing (returns False) when
        the deal is already there, records the change and puts it on the customer's
        timeline. The caller holds the transaction (and the row lock where it matters).
        """
        from customers.services import interaction_log

        if stage == self.stage:
            return False
        if not self.can_move_to(stage):
            raise ValidationError(
                _("A deal cannot move from %(old)s to %(new)s.")
                % {"old": self.get_stage_display(), "new": self.Stage(stage).label}
            )
        if stage == self.Stage.LOST and not reason:
            raise ValidationError(_("Say why the deal was lost."))
        old = self.stage
        self.stage = stage
        self.stage_changed_at = when or timezone.now()
        if stage == self.Stage.LOST:
            self.lost_reason = reason
            self.lost_note = note
        self.save(
            update_fields=["stage", "stage_changed_at", "lost_reason", "lost_note"]
        )
        StageChange.objects.create(
            opportunity=self,
            from_stage=old,
            to_stage=stage,
            changed_by=actor,
            note=note,
        )
        summary = _("Deal %(project)s: %(old)s → %(new)s") % {
            "project": self.project.name,
            "old": self.Stage(old).label,
            "new": self.Stage(stage).label,
        }
        if note:
            summary = f"{summary} · {note}"
        interaction_log(
            customer=self.customer,
            kind="system",
            summary=str(summary),
            actor=actor,
            link=self,
        )
        return True

    move_to.alters_data = True


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
    note = models.CharField(max_length=200, blank=True)

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


class DiscountRequest(models.Model):
    """A discount asked for a deal. Within the project's limit it is granted at once;
    beyond it, it waits in the sales manager's approval queue."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for approval")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    opportunity = models.ForeignKey(
        Opportunity, on_delete=models.CASCADE, related_name="discount_requests"
    )
    percent = models.DecimalField(_("discount (%)"), max_digits=5, decimal_places=2)
    reason = models.CharField(_("reason"), max_length=200)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.PENDING
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(_("decision note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("discount request")
        verbose_name_plural = _("discount requests")
        constraints = [
            models.UniqueConstraint(
                fields=["opportunity"],
                condition=Q(status="pending"),
                name="discount_one_pending",
            )
        ]
        indexes = [
            models.Index(
                fields=["status", "-requested_at"], name="discount_status_idx"
            ),
            models.Index(
                fields=["opportunity", "-requested_at"], name="discount_opp_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.opportunity_id} {self.percent}% {self.status}"


class PaymentItem(models.Model):
    """One line of a deal's payment plan: what is due, when, and how much came in."""

    class Kind(models.TextChoices):
        DEPOSIT = "deposit", _("Deposit")
        DOWN_PAYMENT = "down_payment", _("Down payment")
        INSTALMENT = "instalment", _("Instalment")
        MORTGAGE = "mortgage", _("Mortgage disbursement")
        FULL = "full", _("Full payment")

    opportunity = models.ForeignKey(
        Opportunity, on_delete=models.CASCADE, related_name="payment_items"
    )
    sequence = models.PositiveSmallIntegerField()
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    due_date = models.DateField(_("due"))
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    # Sum of the receipts, kept with them in one transaction.
    received = models.DecimalField(
        _("received"), max_digits=14, decimal_places=2, default=Decimal("0")
    )

    class Meta:
        verbose_name = _("payment item")
        verbose_name_plural = _("payment items")
        ordering = ["opportunity", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["opportunity", "sequence"], name="payment_item_seq"
            ),
            models.CheckConstraint(
                condition=Q(received__lte=models.F("amount")),
                name="payment_item_not_overpaid",
            ),
        ]
        indexes = [
            models.Index(
                fields=["due_date"],
                condition=Q(received__lt=models.F("amount")),
                name="payment_item_open_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount}"

    @property
    def outstanding(self) -> Decimal:
        return self.amount - self.received

    @property
    def is_overdue(self) -> bool:
        return self.outstanding > 0 and self.due_date < timezone.localdate()


class Receipt(models.Model):
    """Money received against a payment item (回款)."""

    class Method(models.TextChoices):
        TRANSFER = "transfer", _("Bank transfer")
        POS = "pos", _("Card (POS)")
        BANK_LOAN = "bank_loan", _("Mortgage bank")
        CASH = "cash", _("Cash")

    item = models.ForeignKey(
        PaymentItem, on_delete=models.PROTECT, related_name="receipts"
    )
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    received_on = models.DateField(_("received on"))
    method = models.CharField(_("method"), max_length=20, choices=Method.choices)
    reference = models.CharField(_("reference"), max_length=100, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("receipt")
        verbose_name_plural = _("receipts")
        indexes = [models.Index(fields=["received_on"], name="receipt_day_idx")]

    def __str__(self) -> str:
        return f"{self.amount} {self.received_on}"


class DealChange(models.Model):
    """A change to a subscribed deal — cancellation, another unit, another buyer —
    that only takes effect once a sales manager approves it. The rows are the history."""

    class Kind(models.TextChoices):
        CANCEL = "cancel", _("Cancel the subscription")
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
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.PENDING
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=200, blank=True)
    # What the deal looked like before the approved change (unit, customer, price).
    before = models.JSONField(default=dict, blank=True)

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
