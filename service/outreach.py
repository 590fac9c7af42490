"""Messages to owners (handover notices, survey invitations and reminders): which
channel reaches an owner, and queueing a send task after commit.

Claiming, sending, retrying and settling interrupted sends is crm_site.outbox's, as for
every other kind of message; this module only says how service reaches an owner.
"""

from __future__ import annotations

from django.db import transaction

from crm_site import outbox
from customers.models import Channel, Customer


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


def message_to(customer: Customer, subject: str, text: str) -> outbox.Message | None:
    """The message to an owner on their channel, or None (no consent, no address).
    Called when the message is sent, so consent withdrawn since still counts."""
    target = pick_channel(customer)
    if target is None:
        return None
    channel, address = target
    if channel == Channel.EMAIL:
        return outbox.Message(outbox.Channel.EMAIL, address, subject, text)
    return outbox.Message(outbox.Channel.SMS, address, subject, f"【{subject}】{text}")


def queue_on_commit(task, *args: object) -> None:
    """Queue a task once the rows it reads are committed. robust: a broker that is down
    must not undo or fail the user's action; the beat sweep sends the row later."""
    transaction.on_commit(lambda: task.delay(*args), robust=True)
