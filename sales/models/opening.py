"""Opening day (开盘): deposits of intent, selection sessions, their order and the
units chosen in them.

- A buyer pays a deposit of intent (诚意金) for a project and gets a queue number
  (排号) in deposit order. The deposit is refundable until it is used in a selection.
- A selection session (开盘选房) offers a set of units under rules (units per buyer
  and per household, minutes per buyer, on site and/or online). Its entries are the
  deposits taking part, each with its position in the order — the queue numbers, or
  a lottery draw (摇号) with a published seed — and its time slot.
- A selection turns the deposit into a subscription (认购) of the chosen unit. The
  unit row is locked while it is chosen (as sales.services.deals.unit_reserve does)
  and a partial unique index refuses a second live selection of one unit.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from sales.models.approval import Decided
from sales.models.deals import Opportunity
from sales.models.inventory import Project, Unit
from sales.models.money import Receipt


class IntentDeposit(models.Model):
    """A deposit of intent (认筹 / 诚意金) for a project, with its queue number."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Valid")
        APPLIED = "applied", _("Applied to a subscription")
        REFUNDED = "refunded", _("Refunded")

    class Qualification(models.TextChoices):
        NOT_REQUIRED = "not_required", _("Not required")
        PENDING = "pending", _("To be checked")
        QUALIFIED = "qualified", _("Qualified")
        UNQUALIFIED = "unqualified", _("Not qualified")

    project = models.ForeignKey(
        Project,
        on_delete=models.PROTECT,
        related_name="deposits",
        verbose_name=_("project"),
    )
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.PROTECT,
        related_name="intent_deposits",
        verbose_name=_("buyer"),
    )
    # The buyer's household when the deposit was taken: the per-household limit
    # counts deposits and selections by it.
    household = models.ForeignKey(
        "customers.Household",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("household"),
    )
    consultant = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("consultant"),
    )
    amount = models.DecimalField(
        _("amount"),
        max_digits=14,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01"))],
    )
    receipt_number = models.CharField(_("receipt number"), max_length=40)
    method = models.CharField(
        _("method"), max_length=20, choices=Receipt.Method.choices
    )
    paid_on = models.DateField(_("paid on"), default=timezone.localdate)
    # 排号: given in deposit order within the project, never reused.
    queue_number = models.PositiveIntegerField(_("queue number"))
    qualification = models.CharField(
        _("purchase qualification"),
        max_length=20,
        choices=Qualification.choices,
        default=Qualification.NOT_REQUIRED,
    )
    # E.g. the housing bureau's check number (购房资格核验编号).
    qualification_note = models.CharField(
        _("qualification reference"), max_length=100, blank=True
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.ACTIVE
    )
    status_changed_at = models.DateTimeField(default=timezone.now)
    # The subscription the deposit was applied to.
    opportunity = models.ForeignKey(
        Opportunity,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="intent_deposits",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("deposit of intent")
        verbose_name_plural = _("deposits of intent")
        ordering = ["project", "queue_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "queue_number"], name="deposit_queue_number"
            ),
            models.UniqueConstraint(
                fields=["project", "receipt_number"], name="deposit_receipt_number"
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "status"], name="deposit_customer_idx"),
            models.Index(
                fields=["household", "project"],
                condition=Q(household__isnull=False),
                name="deposit_household_idx",
            ),
            models.Index(
                fields=["project", "status", "queue_number"],
                name="deposit_project_status_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project_id} #{self.queue_number}"

    @property
    def is_refundable(self) -> bool:
        return self.status == self.Status.ACTIVE


class DepositRefund(Decided):
    """A refund of a deposit of intent: asked by the consultant, paid once a sales
    manager approves. The rows are the deposit's refund history."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for approval")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    deposit = models.ForeignKey(
        IntentDeposit, on_delete=models.PROTECT, related_name="refunds"
    )
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    reason = models.CharField(_("reason"), max_length=200)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.PENDING
    )

    class Meta:
        verbose_name = _("deposit refund")
        verbose_name_plural = _("deposit refunds")
        constraints = [
            models.UniqueConstraint(
                fields=["deposit"],
                condition=Q(status="pending"),
                name="deposit_refund_one_pending",
            )
        ]
        indexes = [
            models.Index(
                fields=["status", "requested_at"], name="deposit_refund_status_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.deposit_id} {self.amount} {self.status}"


class SelectionSession(models.Model):
    """A selection session (开盘选房) for a set of units, with its rules."""

    class Mode(models.TextChoices):
        ON_SITE = "on_site", _("On site")
        ONLINE = "online", _("Online")
        BOTH = "both", _("On site and online")

    class Order(models.TextChoices):
        QUEUE = "queue", _("Queue numbers (排号)")
        LOTTERY = "lottery", _("Lottery (摇号)")
        FIRST_COME = "first_come", _("First come, first served")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Being prepared")
        ORDERED = "ordered", _("Order published")
        OPEN = "open", _("Selecting")
        CLOSED = "closed", _("Closed")

    project = models.ForeignKey(
        Project,
        on_delete=models.PROTECT,
        related_name="selection_sessions",
        verbose_name=_("project"),
    )
    name = models.CharField(_("name"), max_length=100)
    starts_at = models.DateTimeField(_("starts at"))
    mode = models.CharField(
        _("where buyers choose"), max_length=10, choices=Mode.choices
    )
    order = models.CharField(_("order"), max_length=12, choices=Order.choices)
    units_per_buyer = models.PositiveSmallIntegerField(
        _("units per buyer"), default=1, validators=[MinValueValidator(1)]
    )
    units_per_household = models.PositiveSmallIntegerField(
        _("units per household"), default=1, validators=[MinValueValidator(1)]
    )
    minutes_per_buyer = models.PositiveSmallIntegerField(
        _("minutes per buyer"), default=5, validators=[MinValueValidator(1)]
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.DRAFT
    )
    # The lottery: the SHA-256 of the seed is published before the draw, the seed at
    # the draw; anyone can recompute the order from the seed and the published list.
    seed_commitment = models.CharField(
        _("seed commitment (SHA-256)"), max_length=64, blank=True
    )
    seed = models.CharField(_("lottery seed"), max_length=64, blank=True)
    drawn_at = models.DateTimeField(null=True, blank=True)
    # The position called to the selection desk on site (the big screen shows it).
    called_position = models.PositiveIntegerField(_("number called"), default=0)
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    units = models.ManyToManyField(
        Unit,
        through="SessionUnit",
        related_name="selection_sessions",
        verbose_name=_("units"),
    )

    class Meta:
        verbose_name = _("selection session")
        verbose_name_plural = _("selection sessions")
        ordering = ["-starts_at"]
        indexes = [
            models.Index(fields=["project", "-starts_at"], name="session_project_idx"),
            models.Index(fields=["status", "starts_at"], name="session_status_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("sales:session-detail", args=[self.pk])

    @property
    def topic(self) -> str:
        """The crm_site.live topic every screen of the session listens on."""
        return f"opening:{self.pk}"

    @property
    def allows_online(self) -> bool:
        return self.mode in (self.Mode.ONLINE, self.Mode.BOTH)

    @property
    def allows_on_site(self) -> bool:
        return self.mode in (self.Mode.ON_SITE, self.Mode.BOTH)


class SessionUnit(models.Model):
    """A unit offered in a session."""

    session = models.ForeignKey(
        SelectionSession, on_delete=models.CASCADE, related_name="session_units"
    )
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["session", "unit"], name="session_unit_once"
            )
        ]
        indexes = [models.Index(fields=["unit"], name="session_unit_unit_idx")]

    def __str__(self) -> str:
        return f"{self.session_id} {self.unit_id}"


class SessionEntry(models.Model):
    """A deposit taking part in a session: its position in the order and its slot."""

    session = models.ForeignKey(
        SelectionSession, on_delete=models.CASCADE, related_name="entries"
    )
    deposit = models.ForeignKey(
        IntentDeposit, on_delete=models.PROTECT, related_name="entries"
    )
    # 1, 2, 3 … once the order is set (queue numbers or the draw); null before.
    position = models.PositiveIntegerField(null=True, blank=True)
    slot_starts_at = models.DateTimeField(null=True, blank=True)
    slot_ends_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("session entry")
        verbose_name_plural = _("session entries")
        ordering = ["session", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "deposit"], name="session_entry_once"
            ),
            models.UniqueConstraint(
                fields=["session", "position"], name="session_entry_position"
            ),
        ]
        indexes = [models.Index(fields=["deposit"], name="session_entry_deposit_idx")]

    def __str__(self) -> str:
        return f"{self.session_id} #{self.position}"


class Selection(models.Model):
    """A unit chosen in a session (选房): it became the buyer's subscription."""

    class Channel(models.TextChoices):
        ON_SITE = "on_site", _("On site")
        ONLINE = "online", _("Online")

    session = models.ForeignKey(
        SelectionSession, on_delete=models.PROTECT, related_name="selections"
    )
    entry = models.ForeignKey(
        SessionEntry, on_delete=models.PROTECT, related_name="selections"
    )
    unit = models.ForeignKey(
        Unit, on_delete=models.PROTECT, related_name="+", verbose_name=_("unit")
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="+"
    )
    household = models.ForeignKey(
        "customers.Household",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The deal the subscription was signed on. Null for a moment after a buyer's
    # phone claimed the unit, until the paperwork is done
    # (sales.services.opening.selection_complete).
    opportunity = models.ForeignKey(
        Opportunity,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="selections",
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    # The consultant who chose on site; null when the buyer chose online.
    selected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    selected_at = models.DateTimeField(default=timezone.now)
    # Set when the subscription is later cancelled or moved to another unit.
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("selection")
        verbose_name_plural = _("selections")
        ordering = ["session", "selected_at"]
        constraints = [
            # The database itself refuses a second live selection of one unit.
            models.UniqueConstraint(
                fields=["unit"],
                condition=Q(cancelled_at__isnull=True),
                name="selection_unit_once",
            )
        ]
        indexes = [
            models.Index(fields=["session", "selected_at"], name="selection_time_idx"),
            models.Index(fields=["entry"], name="selection_entry_idx"),
            models.Index(
                fields=["session", "household"],
                condition=Q(household__isnull=False),
                name="selection_household_idx",
            ),
            models.Index(fields=["customer"], name="selection_customer_idx"),
            # The sweep of claims still to sign (a handful at most).
            models.Index(
                fields=["selected_at"],
                condition=Q(opportunity__isnull=True, cancelled_at__isnull=True),
                name="selection_to_sign_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.session_id} {self.unit_id}"
