"""Follow-up reminders: a digest row per consultant and day, an escalation row per
overdue follow-up. Rows first, messages second: a lost message is re-sent from the row."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm_site.outbox import OutboxMessage, outbox_indexes
from crm_site.outbox import Status as OutboxStatus


class FollowUpDigest(OutboxMessage):
    """A consultant's morning digest: an outbox row (crm_site.outbox), sent once by
    e-mail (or only in the CRM when they have no address) with a notification."""

    Status = OutboxStatus

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="follow_up_digests",
    )
    day = models.DateField()
    due_today = models.PositiveIntegerField(default=0)
    overdue = models.PositiveIntegerField(default=0)
    lapsing = models.PositiveIntegerField(default=0)
    # A few customers of each list for the e-mail: [{"id", "date"}...]; their names
    # are read when it is composed (no copy of a name to outlive an erasure).
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("follow-up digest")
        verbose_name_plural = _("follow-up digests")
        constraints = [
            models.UniqueConstraint(fields=["user", "day"], name="digest_one_per_day")
        ]
        indexes = outbox_indexes("digest")

    def __str__(self) -> str:
        return f"{self.user_id} {self.day}"


class FollowUpEscalation(models.Model):
    """A follow-up overdue for too long, escalated once to the team's sales managers."""

    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="follow_up_escalations",
    )
    consultant = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    due_date = models.DateField()
    escalated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("follow-up escalation")
        verbose_name_plural = _("follow-up escalations")
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "due_date"], name="escalation_once_per_due_date"
            )
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.due_date}"
