"""Money on a deal: discount requests, the payment plan and receipts."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from sales.models.approval import Decided
from sales.models.deals import Opportunity


class DiscountRequest(Decided):
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
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.PENDING
    )

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
