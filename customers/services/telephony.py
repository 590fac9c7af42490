"""Calls from the telephony system (来电弹屏): recorded, pushed, logged once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from crm_site.models import User
from customers import events as customer_events
from customers import telephony
from customers.models import AgentExtension, Call, Channel, Customer, Interaction
from customers.phones import try_normalize_phone
from customers.services.records import customer_find_by_phone
from customers.services.timeline import interaction_log

EVENTS = ("ringing", "answered", "ended")


class UnknownExtension(Exception):
    """No agent has the extension the call rang on."""


class CallMismatch(Exception):
    """An event of a known call names another extension or caller."""


@dataclass(frozen=True)
class CallEvent:
    call: Call
    # False when this (call id, event) had been received before: nothing changed.
    applied: bool


def normalise_caller(raw: str) -> str:
    """E.164 when it parses as the UI parses a typed number; what was sent otherwise
    (a withheld or internal number), cut to the column."""
    text = (raw or "").strip()
    return try_normalize_phone(text) or text[:40]


@transaction.atomic
def call_event(
    *,
    event: str,
    call_id: str,
    caller: str,
    extension: str,
    at: datetime | None = None,
) -> CallEvent:
    """Record one event of a call (ringing, answered, ended).

    Idempotent per (call id, event): each event sets its own time once; again, it
    changes nothing and pushes nothing. Events may come out of order (an 'ended'
    first): the status only moves forward. A ringing call is pushed to the agent's
    browser once committed; an ended call of a known caller goes on their timeline.
    """
    if event not in EVENTS:
        raise ValueError(f"unknown call event {event!r}")
    agent_row = (
        AgentExtension.objects.select_related("user")
        .filter(extension=extension.strip())
        .first()
    )
    if agent_row is None:
        raise UnknownExtension(extension)
    at = at or timezone.now()
    call, created = Call.objects.select_for_update().get_or_create(
        call_id=call_id,
        defaults={
            "caller": normalise_caller(caller),
            "agent": agent_row.user,
            "extension": agent_row.extension,
        },
    )
    if created:
        call.customer = _match(call.caller)
    elif call.extension != agent_row.extension:
        raise CallMismatch(call_id)
    time_field = f"{event}_at"
    if getattr(call, time_field) is not None:
        return CallEvent(call, applied=False)
    setattr(call, time_field, at)
    if call.ended_at is not None:
        call.status = Call.Status.ENDED
        started = call.answered_at
        call.duration = (
            max(0, round((call.ended_at - started).total_seconds()))
            if started is not None
            else 0
        )
    elif call.answered_at is not None:
        call.status = Call.Status.ANSWERED
    call.save()
    if event == "ended" and call.customer_id is not None:
        _log(call, actor=call.agent)
    transaction.on_commit(lambda: _push(call, event))
    return CallEvent(call, applied=True)


def _match(caller: str) -> Customer | None:
    if not caller.startswith("+"):
        return None
    found = customer_find_by_phone(caller)
    return found if found is not None and not found.is_anonymised else None


def _push(call: Call, event: str) -> None:
    telephony.publish(
        user_id=call.agent_id,
        event=event,
        call_id=call.pk,
        card_url=reverse("customers:screen-pop-card", args=[call.pk]),
    )


def _log(call: Call, *, actor: User | None) -> Interaction | None:
    """The call on its customer's timeline, once (the row is locked by the caller)."""
    if call.interaction_id is not None or call.customer_id is None:
        return None
    if call.answered_at is not None:
        entry = customer_events.CALL_TAKEN(
            extension=call.extension, seconds=call.duration or 0
        )
    else:
        entry = customer_events.CALL_MISSED(extension=call.extension)
    interaction = interaction_log(
        customer=call.customer,
        kind=Interaction.Kind.CALL_IN,
        channel=Channel.PHONE,
        entry=entry,
        summary=call.note,
        actor=actor,
        occurred_at=call.ringing_at or call.answered_at or call.created_at,
        link=call,
    )
    Call.objects.filter(pk=call.pk).update(interaction=interaction)
    call.interaction = interaction
    return interaction


@transaction.atomic
def call_log(*, call: Call, actor: User, note: str = "") -> Interaction | None:
    """The agent's "log this call" on the card: the note goes with the call; an ended
    call of a known caller is logged now, a call still going when it ends. Logged
    once, whoever asks first; returns the entry when it is on the timeline."""
    call = Call.objects.select_for_update().get(pk=call.pk)
    note = note.strip()
    if note and call.interaction_id is None:
        call.note = note[:2000]
        Call.objects.filter(pk=call.pk).update(note=call.note)
    if call.interaction_id is not None:
        return call.interaction
    if call.status == Call.Status.ENDED and call.customer_id is not None:
        return _log(call, actor=actor)
    return None


@transaction.atomic
def call_caller_register(
    *, call: Call, actor: User, customer: Customer
) -> Interaction | None:
    """An unknown caller, just registered from the card: the call (and the earlier
    calls of the same number still unmatched) now belong to the customer, and an
    ended call goes on the timeline."""
    call = Call.objects.select_for_update().get(pk=call.pk)
    if call.customer_id is not None:
        return call.interaction
    Call.objects.filter(
        caller=call.caller, customer__isnull=True, caller__startswith="+"
    ).update(customer=customer)
    call.customer = customer
    if call.status == Call.Status.ENDED:
        return _log(call, actor=actor)
    return None
