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

A selection is two steps: the claim (selection_claim: the rules, the locks, the
selection row and the unit marked subscribed; 8 statements) and the paperwork
(selection_complete: the deal, its stages, the price, the deposit applied; about
55). The desk does both in one transaction (selection_make); a buyer's phone in the
rush is answered after the claim and the paperwork follows in a worker a moment
later, so two thousand phones wait for 8 statements each, not 63 (bench/opening.py).
"""

from __future__ import annotations

import functools
import zlib
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, Max, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from crm_site import live
from crm_site.audit import audit_change, audit_record, snapshot
from crm_site.compiled import KeyLookup
from crm_site.models import AuditEntry, User
from customers.models import Channel, Customer, Interaction
from customers.services import interaction_log
from sales import events as sales_events
from sales.models import (
    DepositRefund,
    DiscountRequest,
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
from sales.services.deals import (
    UnitUnavailable,
    _set_unit_status,
    opportunity_open,
    unit_subscribe,
)


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


def check_buyer_limit(*, session: SelectionSession, chosen: int) -> None:
    """Refuse a buyer who already holds ``chosen`` of the session's units, as many
    as it allows."""
    if chosen >= session.units_per_buyer:
        raise SelectionRefused(
            _("The buyer has chosen as many units as the session allows."),
            "buyer_limit",
        )


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
    """Choose ``unit`` for the entry's buyer and sign the subscription (认购) with
    the deposit applied, in one transaction: the selection desk on site and the
    API. ``actor`` is the consultant on site; None when the buyer chose online (the
    deposit's consultant then owns the deal).

    Raises SelectionRefused (a rule) or UnitUnavailable (someone was faster).
    """
    selection = selection_claim(
        session=session,
        entry=entry,
        unit=unit,
        channel=channel,
        actor=actor,
        now=now,
        sign_later=False,
    )
    return selection_complete(selection.pk)


@functools.cache
def _claimed_entry() -> KeyLookup:
    """The entry and its deposit locked in one statement, with their session (read,
    not locked) and whether a refund of the deposit waits for approval: the claim's
    largest statement, its SQL compiled once per process (crm_site.compiled)."""
    return KeyLookup(
        SessionEntry.objects.select_for_update(of=("self", "deposit"))
        .select_related("session", "deposit__customer", "deposit__project")
        .annotate(
            refund_pending=Exists(
                DepositRefund.objects.filter(
                    deposit=OuterRef("deposit"), status=DepositRefund.Status.PENDING
                )
            )
        )
    )


@transaction.atomic
def selection_claim(
    *,
    session: SelectionSession,
    entry: SessionEntry,
    unit: Unit,
    channel: str,
    actor: User | None = None,
    now: datetime | None = None,
    sign_later: bool = True,
    owner_id: int | None = None,
) -> Selection:
    """The unit becomes the buyer's: every rule checked under the locks above, the
    selection recorded and the unit marked subscribed, so that it is sold on every
    screen the moment this commits. ``entry``, ``session`` and ``unit`` need only
    their primary keys: they are read again under their locks.

    The paperwork (the deal, its stages, the subscription's price, the deposit
    applied as its first payment) is selection_complete. ``sign_later``: the
    buyer's phone in the rush, which is answered once the claim is recorded; the
    paperwork follows a moment later in a worker (sales.tasks.selection_complete,
    queued on commit; the selection row without its deal is what says it is still
    to do, and sales.tasks.selections_complete_pending re-queues one whose message
    was lost). The desk signs at once (selection_make).

    ``owner_id``: the owner who chose on their phone (the deposit's holder or a
    member of their household; ``selected_by`` is for staff): named in an audit
    entry and on their timeline with the portal's channel, once the unit is theirs
    (a refused or lost claim writes nothing).

    Raises SelectionRefused (a rule) or UnitUnavailable (someone was faster).
    """
    now = now or timezone.now()
    entry_pk = entry.pk
    entry = _claimed_entry().get(entry_pk)
    if entry is None:
        raise SessionEntry.DoesNotExist(f"no session entry {entry_pk}")
    if entry.session_id != session.pk:
        raise SelectionRefused(_("The buyer is not in this session."), "not_entered")
    session = entry.session
    # The statement above read the session as it was before it waited for the
    # entry's locks: closing holds the deposits locked while it ends the session.
    # Read as committed now, a close this claim waited for refuses it.
    session.status = (
        SelectionSession.objects.filter(pk=session.pk)
        .values_list("status", flat=True)
        .get()
    )
    check_turn(session=session, entry=entry, channel=channel, now=now)
    deposit = entry.deposit
    if deposit.status == IntentDeposit.Status.REFUNDED:
        raise SelectionRefused(_("The deposit has been refunded."), "refunded")
    if entry.refund_pending:
        raise SelectionRefused(
            _("A refund of the deposit waits for approval."), "refund_pending"
        )
    project = deposit.project
    if (
        project.requires_qualification
        and deposit.qualification != IntentDeposit.Qualification.QUALIFIED
    ):
        raise SelectionRefused(
            _("The buyer's purchase qualification has not been confirmed."),
            "unqualified",
        )
    customer = deposit.customer
    household_id = customer.household_id
    if household_id is not None:
        _household_lock(session.pk, household_id)
    # The buyer's and the household's selections, counted in one statement (the
    # household's under its lock).
    chosen = Selection.objects.filter(session=session, cancelled_at=None).aggregate(
        buyer=Count("pk", filter=Q(entry=entry)),
        household=Count("pk", filter=Q(household_id=household_id)),
    )
    check_buyer_limit(session=session, chosen=chosen["buyer"])
    if household_id is not None and chosen["household"] >= session.units_per_household:
        raise SelectionRefused(
            _("The household has chosen as many units as the session allows."),
            "household_limit",
        )
    # Only the unit's row, and only if the session offers it: Unit's default
    # ordering joins its building, whose row (locked too without ``of``) every sale
    # of the building would then hold.
    locked = next(
        iter(
            Unit.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk=unit.pk, selection_sessions=session)
            .order_by()
        ),
        None,
    )
    if locked is None:
        if not SessionUnit.objects.filter(session=session, unit_id=unit.pk).exists():
            raise SelectionRefused(
                _("This unit is not offered in the session."), "unit"
            )
        raise UnitUnavailable(unit)  # another selection is signing it right now
    unit = locked
    if unit.status != Unit.Status.AVAILABLE:
        raise UnitUnavailable(unit)
    _check_open_deal(customer_id=customer.pk, project_id=project.pk, unit=unit)
    _set_unit_status(unit, Unit.Status.SUBSCRIBED)
    try:
        # No savepoint of its own: should the index refuse, the exception ends
        # this function's atomic block, which rolls the claim back.
        selection = Selection.objects.create(
            session=session,
            entry=entry,
            unit=unit,
            customer=customer,
            household_id=household_id,
            channel=channel,
            selected_by=actor,
            selected_at=now,
        )
    except IntegrityError:
        raise UnitUnavailable(unit) from None
    if owner_id is not None:
        _owner_choice_record(
            selection=selection, owner_id=owner_id, holder=customer, session=session
        )
    payload = {
        "unit": unit.pk,
        "status": Unit.Status.SUBSCRIBED,
        "position": entry.position,
        "selection": selection.pk,
    }
    transaction.on_commit(lambda: live.publish(session.topic, payload, name="sold"))
    if sign_later:
        from sales.tasks import selection_complete as complete_task

        complete_task.delay_on_commit(selection.pk)
    return selection


def _owner_choice_record(
    *,
    selection: Selection,
    owner_id: int,
    holder: Customer,
    session: SelectionSession,
) -> None:
    """Who chose on the phone: nothing else says so (selected_by names staff only,
    and the selection's customer is the deposit's holder, not whoever of their
    household tapped the button)."""
    holder_chose = owner_id == holder.pk
    owner = holder if holder_chose else Customer.objects.get(pk=owner_id)
    audit_record(
        actor=None,
        instance=selection,
        action=AuditEntry.Action.CREATE,
        changes={
            "chosen_by": {"old": "", "new": f"{owner.name} (#{owner.pk})"},
            "channel": {"old": "", "new": selection.channel},
            "unit": {"old": "", "new": selection.unit.number},
        },
    )
    if holder_chose:
        # The holder's timeline says it when the worker signs the subscription
        # (its stage change names the unit chosen at the session): the rush's
        # winners write one row more, not a timeline entry.
        return
    interaction_log(
        customer=owner,
        kind=Interaction.Kind.SYSTEM,
        entry=sales_events.UNIT_SELECTED(
            unit=selection.unit.number, session=session.name
        ),
        channel=Channel.PORTAL,
        actor=None,
        link=selection,
    )


def _check_open_deal(*, customer_id: int, project_id: int, unit: Unit) -> None:
    """What signing would refuse of the buyer's open deal at the project, asked
    before the unit is claimed: it holds another unit, or a discount of it waits
    for approval."""
    deal = (
        Opportunity.objects.filter(
            customer_id=customer_id,
            project_id=project_id,
            stage__in=Opportunity.OPEN_STAGES,
        )
        .annotate(
            discount_pending=Exists(
                DiscountRequest.objects.filter(
                    opportunity=OuterRef("pk"), status=DiscountRequest.Status.PENDING
                )
            )
        )
        .values("unit_id", "discount_pending")
        .first()
    )
    if deal is None:
        return
    if deal["unit_id"] is not None and deal["unit_id"] != unit.pk:
        raise SelectionRefused(
            _("The buyer's open deal holds another unit; release it first."), "deal"
        )
    if deal["discount_pending"]:
        raise SelectionRefused(
            _("A discount for this deal is waiting for approval."), "discount"
        )


@transaction.atomic
def selection_complete(selection_id: int) -> Selection:
    """The paperwork of a claimed selection: the buyer's deal at the project (opened
    if they have none), moved to subscribed for the unit at its price, the deposit
    applied as the deal's first payment. Runs once whoever asks and however often
    (the selection row is locked and a selection with its deal is done)."""
    selection = (
        Selection.objects.select_for_update(of=("self",))
        .select_related(
            "session",
            "unit__building__project",  # named in the deal's audit entry
            "entry__deposit__customer",
            "entry__deposit__project",
            "entry__deposit__consultant",
        )
        .get(pk=selection_id)
    )
    if selection.opportunity_id is not None or selection.cancelled_at is not None:
        return selection
    session, unit = selection.session, selection.unit
    deposit = IntentDeposit.objects.select_for_update().get(
        pk=selection.entry.deposit_id
    )
    customer = selection.entry.deposit.customer
    signer = selection.selected_by or selection.entry.deposit.consultant
    deal = opportunity_open(
        actor=signer,
        customer=customer,
        project=selection.entry.deposit.project,
        consultant=selection.entry.deposit.consultant,
    )
    if deal.unit_id is not None and deal.unit_id != unit.pk:
        # The claim checked this; a consultant gave the deal another unit in the
        # moment between. The selection stays to sign, and the sweeper says so.
        raise SelectionRefused(
            _("The buyer's open deal holds another unit; release it first."), "deal"
        )
    if deal.stage in (Opportunity.Stage.NEW, Opportunity.Stage.CONTACTED):
        # The deposit was paid at the sales office: the buyer has visited.
        deal.move_to(
            Opportunity.Stage.VISITED,
            actor=signer,
            because=sales_events.DEPOSIT_OF_INTENT(
                receipt=deposit.receipt_number, number=deposit.queue_number
            ),
        )
    before = snapshot(deal, ["unit"])
    deal.unit = unit
    deal.save(update_fields=["unit"])
    audit_change(actor=signer, instance=deal, before=before)
    deal = unit_subscribe(
        actor=signer,
        opportunity=deal,
        because=sales_events.UNIT_SELECTED(unit=unit.number, session=session.name),
        claimed=True,
    )
    selection.opportunity = deal
    selection.save(update_fields=["opportunity"])
    if deposit.status == IntentDeposit.Status.ACTIVE:
        _apply_deposit(deposit=deposit, deal=deal, actor=signer)
    return selection


def selections_to_sign(*, older_than: timedelta) -> list[int]:
    """Claimed selections whose paperwork has not been done for a while (its
    message lost, or the worker down)."""
    return list(
        Selection.objects.filter(
            opportunity__isnull=True,
            cancelled_at=None,
            selected_at__lt=timezone.now() - older_than,
        )
        .order_by("selected_at")
        .values_list("pk", flat=True)[:500]
    )


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
