"""What referrals and channel partners are paid: one shape for both, due → paid."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Payout(models.Model):
    """Money the developer owes for a contracted deal, tracked until it is paid.

    The row is created due when the deal is contracted; a manager may approve it and
    marketing (finance) marks it paid. Each step records who and when."""

    class Status(models.TextChoices):
        # A context of their own: "Due" alone already means a due date elsewhere.
        DUE = "due", pgettext_lazy("payout status", "Due")
        APPROVED = "approved", pgettext_lazy("payout status", "Approved")
        PAID = "paid", pgettext_lazy("payout status", "Paid")

    # Subclasses narrow this: a commission needs no approval step.
    TRANSITIONS: dict[str, set[str]] = {
        Status.DUE: {Status.APPROVED},
        Status.APPROVED: {Status.PAID},
        Status.PAID: set(),
    }

    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.DUE
    )
    due_at = models.DateTimeField(_("due since"), default=timezone.now)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("approved by"),
    )
    approved_at = models.DateTimeField(_("approved"), null=True, blank=True)
    paid_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("paid by"),
    )
    paid_at = models.DateTimeField(_("paid"), null=True, blank=True)

    class Meta:
        abstract = True

    def can_move_to(self, status: str) -> bool:
        return status in self.TRANSITIONS.get(self.status, set())

    def move_to(self, status: str, *, actor) -> bool:
        """Approve or pay. Refuses a skipped or backward step; repeating does nothing.
        The caller holds the row lock and writes the audit entry."""
        if status == self.status:
            return False
        if not self.can_move_to(status):
            raise ValidationError(
                _("A payment cannot move from %(old)s to %(new)s.")
                % {"old": self.get_status_display(), "new": self.Status(status).label}
            )
        now = timezone.now()
        self.status = status
        if status == self.Status.APPROVED:
            self.approved_by, self.approved_at = actor, now
        else:
            self.paid_by, self.paid_at = actor, now
        self.save(
            update_fields=[
                "status",
                "approved_by",
                "approved_at",
                "paid_by",
                "paid_at",
            ]
        )
        return True

    move_to.alters_data = True
