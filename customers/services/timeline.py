"""The customer timeline. interaction_log is the only function that writes it."""

from __future__ import annotations

from datetime import date, datetime

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.db.models import Case, F, Q, When
from django.utils import timezone

from crm_site import events, webhooks
from crm_site.models import User
from customers.models import Customer, Interaction
from customers.signals import interaction_logged


@transaction.atomic
def interaction_log(
    *,
    customer: Customer,
    kind: str,
    actor: User | None,
    summary: str = "",
    entry: events.Entry | None = None,
    channel: str = "",
    occurred_at: datetime | None = None,
    link: models.Model | None = None,
    next_follow_up: date | None = None,
) -> Interaction:
    """Put one touch point on the customer's timeline.

    A real contact (a visit, a call, a message...) moves the customer's last-contact
    time forward and replaces the pending follow-up with the one given (or none): the
    follow-up that was due has just happened. A note only sets a follow-up if given.

    What the system writes is an ``entry`` (an event code and its parameters, shown in
    the reader's language); ``summary`` is what a person wrote, alone or as a note on
    the entry.
    """
    summary = summary.strip()
    if entry is None and not summary:
        raise ValueError("interaction_log needs a summary or an event entry")
    occurred_at = occurred_at or timezone.now()
    interaction = Interaction.objects.create(
        customer=customer,
        kind=kind,
        channel=channel,
        summary=summary,
        event=entry.code if entry is not None else "",
        params=entry.params if entry is not None else {},
        occurred_at=occurred_at,
        created_by=actor,
        link_type=ContentType.objects.get_for_model(link) if link is not None else None,
        link_id=link.pk if link is not None else None,
        link_label=str(link)[:200] if link is not None else "",
        next_follow_up=next_follow_up,
    )
    updates: dict = {}
    if kind in Interaction.CONTACT_KINDS:
        # Conditional, so a late-logged older contact never moves the time backwards.
        updates["last_contact_at"] = Case(
            When(
                Q(last_contact_at__isnull=True) | Q(last_contact_at__lt=occurred_at),
                then=models.Value(occurred_at),
            ),
            default=F("last_contact_at"),
        )
        updates["next_follow_up"] = next_follow_up
    elif next_follow_up is not None:
        updates["next_follow_up"] = next_follow_up
    # Conditional on the record being live, and taking its row lock: one merged away
    # while the caller held it (the merge committed while this waited on the lock)
    # is not read again, it matches nothing here, and the entry follows to the
    # survivor; a merge that has not taken the lock yet waits for this commit and
    # moves the entry itself.
    live = Customer.objects.filter(pk=customer.pk, merged_into__isnull=True)
    still_live = True
    if updates:
        updates["updated_at"] = timezone.now()
        still_live = bool(live.update(**updates))
    elif entry is None:
        # A note someone wrote changes nothing on the record, but needs the same
        # lock: the foreign key is only checked at commit, so the insert alone does
        # not wait for a merge. (What the system writes comes from flows that lock
        # their own rows first, a deal say, and take no customer lock after them.)
        still_live = live.select_for_update(no_key=True).exists()
    if not still_live:
        customer = _onto_survivor(interaction, customer, updates)
    interaction_logged.send(sender=Interaction, interaction=interaction)
    webhooks.emit(
        "interaction.logged",
        data={
            "interaction_id": interaction.pk,
            "customer_id": customer.pk,
            "kind": kind,
            "event": interaction.event,
        },
    )
    return interaction


def _onto_survivor(
    interaction: Interaction, customer: Customer, updates: dict
) -> Customer:
    """The entry was written on a record merged away meanwhile: it goes to the record
    that lives on (following merges of merges), which the contact then updates, so
    the timeline, the follow-up and the sales registration it triggers are not left
    on a record nobody sees."""
    survivor = Customer.objects.filter(pk=customer.pk).first()
    seen: set[int] = set()
    while survivor is not None and survivor.merged_into_id is not None:
        if survivor.pk in seen:
            return customer
        seen.add(survivor.pk)
        survivor = Customer.objects.filter(pk=survivor.merged_into_id).first()
    if survivor is None or survivor.pk == customer.pk:
        return customer
    Interaction.objects.filter(pk=interaction.pk).update(customer=survivor)
    interaction.customer = survivor
    if updates:
        Customer.objects.filter(pk=survivor.pk).update(**updates)
    return survivor
