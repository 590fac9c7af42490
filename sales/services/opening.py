"""The selection itself (选房): a unit chosen in a session becomes a subscription.

Whatever the load, no unit is sold twice and no buyer or household goes over the
session's limits:

1. the buyer's entry row is locked (SELECT … FOR UPDATE), so two phones of one buyer
   choose one after the other;
2. the household is locked with a transaction-scoped advisory lock keyed by session
   and household, so two members of one household choose one after the other;
3. the unit row is locked, then its status is checked (as unit_reserve does), and a
   partial unique index on live selections backs it up. A unit row another selection
   holds is not waited for: that selection is signing it, so this one is answered
   "someone was faster" at once (UnitUnavailable) instead of holding a web thread
   and a database connection in the rush only to hear the same a moment later.
   Should that other selection fail, the unit is still on sale and may be chosen
   again.

Locks are always taken in that order, so two selections never wait on each other in
a circle. Every screen of the session hears of the sale through crm_site.live once
the transaction commits.
"""

from __future__ import annotations

import zlib
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from crm_site import live
from crm_site.models import User
from sales import events as sales_events
from sales.models import (
    IntentDeposit,
    Opportunity,
    PaymentItem,
    Receipt,
    Selection,
    SelectionSession,
    SessionEntry,
    SessionUnit,
    Unit,
)
from sales.services.deals import UnitUnavailable, opportunity_open, unit_subscribe


class SelectionRefused(ValidationError):
    """Why a selection was refused, with a code a screen or the API can act on."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message, code=code)


def _household_lock(session_id: int, household_id: int) -> None:
    # Two 32-bit keys: the session, and a hash of the household id.
    key = zlib.crc32(f"household:{household_id}".encode()) - 2**31
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [session_id, key])


def check_turn(
    *, session: SelectionSession, entry: SessionEntry, channel: str, now: datetime
) -> None:
    """Refuse a buyer whose turn has not come (online) or a channel the session
    does not offer."""
    if session.status != SelectionSession.Status.OPEN:
        raise SelectionRefused(_("The selection session is not open."), "not_open")
    if channel == Selection.Channel.ONLINE and not session.allows_online:
        raise SelectionRefused(_("This session is on site only."), "channel")
    if channel == Selection.Channel.ON_SITE and not session.allows_on_site:
        raise SelectionRefused(_("This session is online only."), "channel")
    if channel != Selection.Channel.ONLINE:
        return
    if session.order == SelectionSession.Order.FIRST_COME:
        if now < session.starts_at:
            raise SelectionRefused(_("The selection has not started yet."), "too_soon")
    elif entry.slot_starts_at is None or now < entry.slot_starts_at:
        raise SelectionRefused(_("Your time slot has not started yet."), "too_soon")


@transaction.atomic
def selection_make(
    *,
    session: SelectionSession,
    entry: SessionEntry,
    unit: Unit,
    channel: str,
    actor: User | None = None,
    now: datetime | None = None,
) -> Selection:
    """Choose ``unit`` for the entry's buyer: the subscription (认购) is signed with
    the deposit applied. ``actor`` is the consultant on site; None when the buyer
    chose online (the deposit's consultant then owns the deal).

    Raises SelectionRefused (a rule) or UnitUnavailable (someone was faster).
    """
    now = now or timezone.now()
    session = SelectionSession.objects.get(pk=session.pk)
    # The entry and its deposit locked in one statement.
    entry = (
        SessionEntry.objects.select_for_update(of=("self", "deposit"))
        .select_related("deposit__customer", "deposit__project", "deposit__consultant")
        .get(pk=entry.pk)
    )
    if entry.session_id != session.pk:
        raise SelectionRefused(_("The buyer is not in this session."), "not_entered")
    check_turn(session=session, entry=entry, channel=channel, now=now)
    deposit = entry.deposit
    if deposit.status == IntentDeposit.Status.REFUNDED:
        raise SelectionRefused(_("The deposit has been refunded."), "refunded")
    if deposit.refunds.filter(status="pending").exists():
        raise SelectionRefused(
            _("A refund of the deposit waits for approval."), "refund_pending"
        )
    project = entry.deposit.project
    if (
        project.requires_qualification
        and deposit.qualification != IntentDeposit.Qualification.QUALIFIED
    ):
        raise SelectionRefused(
            _("The buyer's purchase qualification has not been confirmed."),
            "unqualified",
        )
    customer = entry.deposit.customer
    household_id = customer.household_id
    live_selections = Selection.objects.filter(session=session, cancelled_at=None)
    if live_selections.filter(entry=entry).count() >= session.units_per_buyer:
        raise SelectionRefused(
            _("The buyer has chosen as many units as the session allows."),
            "buyer_limit",
        )
    if household_id is not None:
        _household_lock(session.pk, household_id)
        if (
            live_selections.filter(household_id=household_id).count()
            >= session.units_per_household
        ):
            raise SelectionRefused(
                _("The household has chosen as many units as the session allows."),
                "household_limit",
            )
    if not SessionUnit.objects.filter(session=session, unit_id=unit.pk).exists():
        raise SelectionRefused(_("This unit is not offered in the session."), "unit")
    # Only the unit's row: Unit's default ordering joins its building, whose row
    # (locked too without ``of``) every sale of the building would then hold.
    locked = next(
        iter(
            Unit.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk=unit.pk)
            .order_by()
        ),
        None,
    )
    if locked is None:
        raise UnitUnavailable(unit)  # another selection is signing it right now
    unit = locked
    if unit.status != Unit.Status.AVAILABLE:
        raise UnitUnavailable(unit)

    deal = opportunity_open(
        actor=actor or deposit.consultant,
        customer=customer,
        project=project,
        consultant=deposit.consultant,
    )
    if deal.unit_id is not None and deal.unit_id != unit.pk:
        raise SelectionRefused(
            _("The buyer's open deal holds another unit; release it first."), "deal"
        )
    signer = actor or deposit.consultant
    if deal.stage in (Opportunity.Stage.NEW, Opportunity.Stage.CONTACTED):
        # The deposit was paid at the sales office: the buyer has visited.
        deal.move_to(
            Opportunity.Stage.VISITED,
            actor=signer,
            because=sales_events.DEPOSIT_OF_INTENT(
                receipt=deposit.receipt_number, number=deposit.queue_number
            ),
        )
    deal.unit = unit
    deal.save(update_fields=["unit"])
    deal = unit_subscribe(
        actor=signer,
        opportunity=deal,
        because=sales_events.UNIT_SELECTED(unit=unit.number, session=session.name),
    )
    try:
        with transaction.atomic():
            selection = Selection.objects.create(
                session=session,
                entry=entry,
                unit=unit,
                customer=customer,
                household_id=household_id,
                opportunity=deal,
                channel=channel,
                selected_by=actor,
                selected_at=now,
            )
    except IntegrityError:
        raise UnitUnavailable(unit) from None
    if deposit.status == IntentDeposit.Status.ACTIVE:
        _apply_deposit(deposit=deposit, deal=deal, actor=signer)
    payload = {
        "unit": unit.pk,
        "status": Unit.Status.SUBSCRIBED,
        "position": entry.position,
        "selection": selection.pk,
    }
    transaction.on_commit(lambda: live.publish(session.topic, payload, name="sold"))
    return selection


def _apply_deposit(*, deposit: IntentDeposit, deal: Opportunity, actor: User) -> None:
    """The deposit becomes the deal's first payment, already received."""
    sequence = (deal.payment_items.aggregate(n=Max("sequence"))["n"] or 0) + 1
    item = PaymentItem.objects.create(
        opportunity=deal,
        sequence=sequence,
        kind=PaymentItem.Kind.DEPOSIT,
        due_date=timezone.localdate(),
        amount=deposit.amount,
        received=deposit.amount,
    )
    Receipt.objects.create(
        item=item,
        amount=deposit.amount,
        received_on=deposit.paid_on,
        method=deposit.method,
        reference=deposit.receipt_number,
        recorded_by=actor,
    )
    deposit.status = IntentDeposit.Status.APPLIED
    deposit.status_changed_at = timezone.now()
    deposit.opportunity = deal
    deposit.save(update_fields=["status", "status_changed_at", "opportunity"])
