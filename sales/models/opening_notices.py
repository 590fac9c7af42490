"""The SMS that tells each buyer their place in a selection session's order."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm_site.outbox import OutboxMessage, outbox_indexes
from sales.models.opening import SessionEntry


class SessionOrderNotice(OutboxMessage):
    """An outbox row (crm_site.outbox): the buyer's queue number, position and time
    slot, sent once per entry when the session's order is set."""

    entry = models.OneToOneField(
        SessionEntry, on_delete=models.CASCADE, related_name="order_notice"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("selection order notice")
        verbose_name_plural = _("selection order notices")
        indexes = outbox_indexes("session_order_notice")

    def __str__(self) -> str:
        return f"{self.entry_id} {self.status}"
