"""The sale after contract: a project's rules for changes (refund or forfeit, fees),
the refunds approved changes owe, and consultants' commission by the project's rules."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from sales.models.deals import DealChange, Opportunity
from sales.models.inventory import Project

CENT = Decimal("0.01")
ZERO = Decimal("0")


class Basis(models.TextChoices):
    PERCENT = "percent", _("Percent of the agreed price")
    FIXED = "fixed", _("Fixed amount")


def _amount(basis: str, rate: Decimal, price: Decimal | None) -> Decimal:
    if basis == Basis.FIXED:
        return rate.quantize(CENT)
    return ((price or ZERO) * rate / Decimal("100")).quantize(
        CENT, rounding=ROUND_HALF_UP
    )


class ChangeRule(models.Model):
    """What a change after subscription costs the buyer at this project (退房 / 换房
    / 更名). A project without a row keeps nothing back and charges no fee."""

    project = models.OneToOneField(
        Project,
        on_delete=models.CASCADE,
        related_name="change_rule",
        verbose_name=_("project"),
    )
    forfeit_basis = models.CharField(
        _("forfeit basis"), max_length=10, choices=Basis.choices, default=Basis.PERCENT
    )
    # Kept from the money received when the buyer cancels, by the stage reached.
    forfeit_subscribed = models.DecimalField(
        _("forfeit when cancelling after subscription"),
        max_digits=14,
        decimal_places=2,
        default=ZERO,
        validators=[MinValueValidator(ZERO)],
    )
    forfeit_contracted = models.DecimalField(
        _("forfeit when cancelling after contract"),
        max_digits=14,
        decimal_places=2,
        default=ZERO,
        validators=[MinValueValidator(ZERO)],
    )
    buyer_change_fee = models.DecimalField(
        _("fee for a change of buyer"),
        max_digits=14,
        decimal_places=2,
        default=ZERO,
        validators=[MinValueValidator(ZERO)],
    )
    # True: the money received counts in full against the new unit's price. False:
    # the forfeit of a cancellation is kept first and only the rest counts.
    unit_change_keeps_money = models.BooleanField(
        _("a change of unit keeps all the money received"), default=True
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("change rule")
        verbose_name_plural = _("change rules")
        constraints = [
            models.CheckConstraint(
                condition=Q(forfeit_basis="fixed")
                | (Q(forfeit_subscribed__lte=100) & Q(forfeit_contracted__lte=100)),
                name="change_rule_percent_max_100",
            )
        ]

    def __str__(self) -> str:
        return f"{self.project_id}"

    def forfeit_for(self, *, stage: str, price: Decimal | None) -> Decimal:
        """What a cancellation at ``stage`` forfeits, before it is capped by the
        money actually received."""
        rate = (
            self.forfeit_subscribed
            if stage == Opportunity.Stage.SUBSCRIBED
            else self.forfeit_contracted
        )
        return _amount(self.forfeit_basis, rate, price)


class DealRefund(models.Model):
    """Money an approved change owes the buyer back: a cancellation (received less
    the forfeit), or a change to a cheaper unit that leaves the buyer over-paid.
    Created when the manager approves; marked paid when finance pays it out."""

    class Status(models.TextChoices):
        DUE = "due", _("To be paid back")
        PAID = "paid", _("Paid back")

    change = models.OneToOneField(
        DealChange, on_delete=models.PROTECT, related_name="refund"
    )
    opportunity = models.ForeignKey(
        Opportunity, on_delete=models.PROTECT, related_name="refunds"
    )
    received = models.DecimalField(_("received"), max_digits=14, decimal_places=2)
    forfeit = models.DecimalField(_("forfeit"), max_digits=14, decimal_places=2)
    amount = models.DecimalField(_("refund"), max_digits=14, decimal_places=2)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.DUE
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    paid_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("paid out by"),
    )
    paid_at = models.DateTimeField(_("paid out at"), null=True, blank=True)

    class Meta:
        verbose_name = _("deal refund")
        verbose_name_plural = _("deal refunds")
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gte=0) & Q(forfeit__gte=0),
                name="deal_refund_not_negative",
            )
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="refund_idx")]

    def __str__(self) -> str:
        return f"{self.opportunity_id}: {self.amount}"


class CommissionRule(models.Model):
    """How a project pays its consultants per deal (佣金)."""

    class EarnedAt(models.TextChoices):
        CONTRACTED = "contracted", _("At contract")
        PAID = "paid", _("When paid in full")

    project = models.OneToOneField(
        Project,
        on_delete=models.CASCADE,
        related_name="commission_rule",
        verbose_name=_("project"),
    )
    basis = models.CharField(
        _("basis"), max_length=10, choices=Basis.choices, default=Basis.PERCENT
    )
    # A percentage of the agreed price, or yuan per unit sold, as ``basis`` says.
    rate = models.DecimalField(
        _("rate"),
        max_digits=14,
        decimal_places=2,
        validators=[MinValueValidator(ZERO)],
    )
    earned_at = models.CharField(
        _("earned"), max_length=12, choices=EarnedAt.choices, default=EarnedAt.PAID
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("commission rule")
        verbose_name_plural = _("commission rules")
        constraints = [
            models.CheckConstraint(
                condition=Q(basis="fixed") | Q(rate__lte=100),
                name="commission_rule_percent_max_100",
            )
        ]

    def __str__(self) -> str:
        return f"{self.project_id}: {self.rate} {self.basis}"

    def amount_for(self, deal: Opportunity) -> Decimal:
        return _amount(self.basis, self.rate, deal.agreed_price)

    def earned_by(self, stage: str) -> bool:
        if self.earned_at == self.EarnedAt.CONTRACTED:
            return stage in (Opportunity.Stage.CONTRACTED, Opportunity.Stage.PAID)
        return stage == Opportunity.Stage.PAID


class Commission(models.Model):
    """A consultant's commission on one deal: accrued when the deal reaches the
    project's earning stage, payable once the deal is paid in full, paid when the
    manager marks it. An approved cancellation voids it while unpaid; a paid one
    stays paid (the money went out) and is reversed by a clawback line of the
    negative amount, payable, so the consultant's next settlement deducts it (the
    manager marks it deducted: *clawed back*), or written off with a reason when it
    will not be recovered (*waived*: the consultant left, there is no next
    settlement)."""

    class Kind(models.TextChoices):
        SALE = "sale", _("Sale")
        CLAWBACK = "clawback", _("Clawback")

    class Status(models.TextChoices):
        ACCRUED = "accrued", _("Accrued")
        PAYABLE = "payable", _("Payable")
        PAID = "paid", _("Paid")
        # A clawback line deducted in a settlement.
        CLAWED_BACK = "clawed_back", _("Clawed back")
        # Unpaid commission of a deal cancelled before it was paid.
        VOIDED = "voided", _("Voided")
        # A clawback line a sales manager wrote off (核销): it will not be recovered.
        WAIVED = "waived", _("Waived")

    opportunity = models.ForeignKey(
        Opportunity,
        on_delete=models.PROTECT,
        related_name="commissions",
        verbose_name=_("deal"),
    )
    consultant = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="commissions",
        verbose_name=_("consultant"),
    )
    project = models.ForeignKey(
        Project, on_delete=models.PROTECT, related_name="+", verbose_name=_("project")
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.SALE)
    # The rule as it was applied, so a later rule change leaves this row as it was.
    basis = models.CharField(max_length=10, choices=Basis.choices)
    rate = models.DecimalField(max_digits=14, decimal_places=2)
    price = models.DecimalField(
        _("agreed price"), max_digits=14, decimal_places=2, null=True
    )
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.ACCRUED
    )
    accrued_at = models.DateTimeField(_("accrued"), default=timezone.now)
    # When and by whom the row was settled: paid, a clawback line deducted or
    # written off.
    paid_at = models.DateTimeField(_("paid"), null=True, blank=True)
    paid_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("settled by"),
    )
    # When an approved cancellation voided the row or, paid, reversed it.
    clawed_back_at = models.DateTimeField(_("clawed back at"), null=True, blank=True)
    # Why a clawback line was written off, as the sales manager gave it.
    waive_reason = models.CharField(
        _("reason for writing off"), max_length=200, blank=True
    )

    class Meta:
        verbose_name = _("commission")
        verbose_name_plural = _("commissions")
        constraints = [
            # Accrual runs from several services and may run twice: once per deal.
            models.UniqueConstraint(
                fields=["opportunity", "consultant", "kind"],
                name="commission_once_per_deal",
            ),
            # A sale earns, a clawback line takes back.
            models.CheckConstraint(
                condition=Q(kind="sale", amount__gte=0)
                | Q(kind="clawback", amount__lte=0),
                name="commission_sign_by_kind",
            ),
            # Only what is owed back may be written off, never a consultant's pay.
            models.CheckConstraint(
                condition=~Q(status="waived") | Q(kind="clawback"),
                name="commission_waived_only_clawback",
            ),
        ]
        indexes = [
            models.Index(
                fields=["consultant", "-accrued_at"], name="commission_mine_idx"
            ),
            models.Index(
                fields=["project", "-accrued_at"], name="commission_project_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.opportunity_id} {self.consultant_id} {self.amount}"
