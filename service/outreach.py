"""Messages to owners from outbox rows (handover notices, survey invitations).

Each row is claimed with a conditional UPDATE (pending → sending) before anything is
sent, so a task delivered twice, two beat runs overlapping, or a worker and the sweeper
racing send it once. A row whose worker died mid-send goes back to pending after
STALE_AFTER; a refusal by the provider is retried up to MAX_ATTEMPTS times.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import override

from crm_site import messaging
from customers.models import Channel, Customer
from service.models import Outbox

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
STALE_AFTER = timedelta(minutes=10)


def pick_channel(customer: Customer) -> tuple[str, str] | None:
    """(channel, address) to reach an owner about service matters, or None when they
    refused service contact or left no way to reach them. The owner's preferred channel
    wins; anyone else with a mobile gets an SMS."""
    if not customer.consent_service:
        return None
    if customer.preferred_channel == Channel.EMAIL and customer.email:
        return Channel.EMAIL, customer.email
    if customer.mobile:
        return Channel.SMS, customer.mobile
    if customer.email:
        return Channel.EMAIL, customer.email
    return None


def deliver(channel: str, address: str, subject: str, text: str) -> str:
    if channel == Channel.EMAIL:
        return messaging.send_email(address, subject, text)
    return messaging.send_sms(address, f"【{subject}】{text}")


def queue_on_commit(task, *args: object) -> None:
    """Queue a task once the rows it reads are committed. robust: a broker that is down
    must not undo or fail the user's action; the beat sweep sends the row later."""
    transaction.on_commit(lambda: task.delay(*args), robust=True)


def outbox_send(
    rows: models.QuerySet,
    pk: int,
    *,
    customer_of: Callable[[models.Model], Customer],
    compose: Callable[[models.Model], tuple[str, str]],
) -> bool:
    """Claim one pending row of `rows`, send its message, record the outcome."""
    model = rows.model
    now = timezone.now()
    claimed = model.objects.filter(pk=pk, status=Outbox.PENDING).update(
        status=Outbox.SENDING, claimed_at=now, attempts=F("attempts") + 1
    )
    if not claimed:
        return False
    row = rows.get(pk=pk)
    target = pick_channel(customer_of(row))
    if target is None:
        model.objects.filter(pk=pk).update(status=Outbox.SKIPPED)
        return False
    channel, address = target
    with override(settings.LANGUAGE_CODE):
        subject, text = compose(row)
    try:
        message_id = deliver(channel, address, subject, text)
    except messaging.SendFailed as exc:
        logger.warning("%s %s not sent: %s", model.__name__, pk, exc)
        model.objects.filter(pk=pk).update(
            status=Outbox.FAILED if row.attempts >= MAX_ATTEMPTS else Outbox.PENDING,
            error=str(exc)[:300],
        )
        return False
    model.objects.filter(pk=pk).update(
        status=Outbox.SENT,
        sent_at=timezone.now(),
        channel=channel,
        message_id=message_id[:200],
        error="",
    )
    return True


def release_stale(model: type[models.Model]) -> int:
    """Rows claimed by a worker that never finished go back to pending."""
    return model.objects.filter(
        status=Outbox.SENDING, claimed_at__lt=timezone.now() - STALE_AFTER
    ).update(status=Outbox.PENDING)
