"""The order of a selection session: queue numbers (排号) or a lottery (摇号), each
buyer's position and time slot, and the SMS that tells them.

The lottery is verifiable by anyone (scripts/verify_lottery.py does it with the
standard library alone):

1. the entries are filled while the session is being prepared; committing the seed
   freezes the list, so nobody can add a buyer once the outcome is decided;
2. a random seed is drawn (``secrets``) and only its SHA-256 is published (the
   commitment): the seed is kept in the row and shown nowhere until the draw;
3. at the draw the seed is revealed and the order is the queue numbers sorted by
   SHA-256("<seed>:<queue number>") — the seed, the commitment and the list of
   numbers recompute it. Each number's place depends on the seed and that number
   alone, so a buyer dropped before the draw (a refund) moves nobody else.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm_site import outbox
from crm_site.audit import audit_record
from crm_site.models import AuditEntry, User
from customers.services import interaction_log
from sales import events as sales_events
from sales.models import (
    DepositRefund,
    IntentDeposit,
    SelectionSession,
    SessionEntry,
    SessionOrderNotice,
)

logger = logging.getLogger(__name__)

Order = SelectionSession.Order
SessionStatus = SelectionSession.Status
# Sessions whose entries are taken: a deposit is in at most one of them.
ORDERED_OR_OPEN = (SessionStatus.ORDERED, SessionStatus.OPEN)


# The draw, as anyone recomputes it -----------------------------------------------


def ticket(seed: str, number: int) -> str:
    """A queue number's lottery ticket: SHA-256 of "<seed>:<number>", in hex."""
    return hashlib.sha256(f"{seed}:{number}".encode()).hexdigest()


def lottery_order(seed: str, numbers: Iterable[int]) -> list[int]:
    """The queue numbers in the order the draw gives them (pure; the same function
    as scripts/verify_lottery.py)."""
    return sorted({int(n) for n in numbers}, key=lambda n: (ticket(seed, n), n))


def commitment_of(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


# Preparing the session ------------------------------------------------------------


def _locked_draft(session: SelectionSession) -> SelectionSession:
    session = (
        SelectionSession.objects.select_for_update(of=("self",))
        .select_related("project")
        .get(pk=session.pk)
    )
    if session.status != SessionStatus.DRAFT:
        raise ValidationError(_("The session's order has been set already."))
    return session


def eligible_deposits(session: SelectionSession):
    """The project's deposits that may take part: valid, qualified where the
    project requires it, no refund waiting, not already in this session nor in
    another session whose order is set."""
    qs = IntentDeposit.objects.filter(
        project_id=session.project_id, status=IntentDeposit.Status.ACTIVE
    )
    if session.project.requires_qualification:
        qs = qs.filter(qualification=IntentDeposit.Qualification.QUALIFIED)
    taken = SessionEntry.objects.filter(
        Q(session__status__in=ORDERED_OR_OPEN) | Q(session=session),
        deposit=OuterRef("pk"),
    )
    pending = DepositRefund.objects.filter(
        deposit=OuterRef("pk"), status=DepositRefund.Status.PENDING
    )
    return qs.exclude(Exists(taken)).exclude(Exists(pending))


@transaction.atomic
def session_entries_fill(*, actor: User, session: SelectionSession) -> int:
    """Enter every eligible deposit of the project; how many were entered. Running
    it again enters only deposits taken since."""
    session = _locked_draft(session)
    if session.seed_commitment:
        raise ValidationError(
            _("The lottery's seed is committed: the list of buyers is final.")
        )
    ids = list(eligible_deposits(session).values_list("pk", flat=True))
    SessionEntry.objects.bulk_create(
        [SessionEntry(session=session, deposit_id=pk) for pk in ids],
        ignore_conflicts=True,
    )
    if ids:
        audit_record(
            actor=actor,
            instance=session,
            action=AuditEntry.Action.UPDATE,
            changes={"entries": {"old": "", "new": str(len(ids))}},
        )
    return len(ids)


@transaction.atomic
def session_commit_seed(*, actor: User, session: SelectionSession) -> SelectionSession:
    """Draw the lottery's secret seed and publish its SHA-256 (once; again: nothing)."""
    session = _locked_draft(session)
    if session.order != Order.LOTTERY:
        raise ValidationError(_("Only a lottery session has a seed."))
    if session.seed_commitment:
        return session
    if not session.entries.exists():
        raise ValidationError(_("Enter the buyers before committing the seed."))
    session.seed = secrets.token_hex(32)
    session.seed_commitment = commitment_of(session.seed)
    session.save(update_fields=["seed", "seed_commitment"])
    # The audit trail keeps the commitment only: the seed stays secret until the draw.
    audit_record(
        actor=actor,
        instance=session,
        action=AuditEntry.Action.UPDATE,
        changes={"seed_commitment": {"old": "", "new": session.seed_commitment}},
    )
    return session


def entries_taking_no_part(session: SelectionSession) -> QuerySet[SessionEntry]:
    """The session's entries that take no place once it is ordered or opened:
    deposits refunded or used since they were entered, deposits whose refund waits
    for approval (the buyer is leaving: the fill does not enter such a deposit, and
    no slot nor SMS is due), and deposits taking part in another session ordered or
    open meanwhile (one deposit choosing in two sessions could claim two units)."""
    elsewhere = SessionEntry.objects.filter(
        deposit=OuterRef("deposit"), session__status__in=ORDERED_OR_OPEN
    ).exclude(session=session)
    pending = DepositRefund.objects.filter(
        deposit=OuterRef("deposit"), status=DepositRefund.Status.PENDING
    )
    return SessionEntry.objects.filter(session=session).filter(
        ~Q(deposit__status=IntentDeposit.Status.ACTIVE)
        | Exists(elsewhere)
        | Exists(pending)
    )


@transaction.atomic
def session_order_set(
    *, actor: User, session: SelectionSession, now: datetime | None = None
) -> SelectionSession:
    """Set the order (queue numbers, or the lottery draw that reveals the seed), each
    entry's position and time slot; draft → ordered; one SMS per buyer queued.
    A session already ordered is returned as it is."""
    session = (
        SelectionSession.objects.select_for_update(of=("self",))
        .select_related("project")
        .get(pk=session.pk)
    )
    if session.status != SessionStatus.DRAFT:
        return session
    entries_taking_no_part(session).delete()
    entries = list(
        SessionEntry.objects.select_for_update(of=("self",))
        .filter(session=session)
        .select_related("deposit")
    )
    if not entries:
        raise ValidationError(_("No buyer is entered in the session."))
    by_number = {entry.deposit.queue_number: entry for entry in entries}
    if session.order == Order.LOTTERY:
        if not session.seed_commitment:
            raise ValidationError(_("Commit the lottery's seed before the draw."))
        numbers = lottery_order(session.seed, by_number)
        session.drawn_at = now or timezone.now()
    else:
        numbers = sorted(by_number)
    minutes = timedelta(minutes=session.minutes_per_buyer)
    ordered = []
    for position, number in enumerate(numbers, start=1):
        entry = by_number[number]
        entry.position = position
        if session.order == Order.FIRST_COME:
            # Everyone may choose from the start until the units are gone.
            entry.slot_starts_at, entry.slot_ends_at = session.starts_at, None
        else:
            entry.slot_starts_at = session.starts_at + (position - 1) * minutes
            entry.slot_ends_at = entry.slot_starts_at + minutes
        ordered.append(entry)
    SessionEntry.objects.bulk_update(
        ordered, ["position", "slot_starts_at", "slot_ends_at"]
    )
    session.status = SessionStatus.ORDERED
    session.save(update_fields=["status", "drawn_at"])
    changes = {"status": {"old": SessionStatus.DRAFT.value, "new": session.status}}
    if session.drawn_at:
        changes["seed"] = {"old": "", "new": session.seed}
    audit_record(
        actor=actor, instance=session, action=AuditEntry.Action.UPDATE, changes=changes
    )
    _queue_notices(ordered)
    return session


# The SMS of each buyer's number and slot (crm_site.outbox) ------------------------


def _queue_notices(entries: list[SessionEntry]) -> None:
    """One notice row per entry (a unique key: never two), then one task each once
    the transaction commits; the sweep sends what a lost task left."""
    from sales import tasks

    SessionOrderNotice.objects.bulk_create(
        [SessionOrderNotice(entry=entry) for entry in entries], ignore_conflicts=True
    )
    ids = list(
        SessionOrderNotice.objects.filter(
            entry__in=entries, status=outbox.Status.PENDING
        ).values_list("pk", flat=True)
    )
    for pk in ids:
        tasks.session_order_notice_send.delay_on_commit(pk)


def _local(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def notice_text(entry: SessionEntry) -> str:
    """The SMS, in the site's language (the outbox composes under it)."""
    session = entry.session
    values = {
        "project": session.project.name,
        "session": session.name,
        "number": entry.deposit.queue_number,
        "position": entry.position,
        "start": _local(entry.slot_starts_at),
    }
    if entry.slot_ends_at is None:
        return (
            _(
                "%(project)s %(session)s: your queue number is %(number)s. The "
                "selection opens at %(start)s, first come first served. Please "
                "bring your ID card and deposit receipt."
            )
            % values
        )
    values["end"] = timezone.localtime(entry.slot_ends_at).strftime("%H:%M")
    return (
        _(
            "%(project)s %(session)s: your queue number is %(number)s, your "
            "position %(position)s, your time to choose %(start)s–%(end)s. Please "
            "bring your ID card and deposit receipt."
        )
        % values
    )


class OrderNoticeKind(outbox.OutboxKind):
    name = "sales.session_order_notice"
    label = gettext_lazy("Selection order messages")
    model = SessionOrderNotice

    def rows(self):
        return SessionOrderNotice.objects.select_related(
            "entry__deposit__customer", "entry__session__project"
        )

    def compose(self, row: SessionOrderNotice) -> outbox.Message | None:
        # The buyer paid a deposit to take part: a service message, not marketing,
        # sent to the mobile they gave.
        customer = row.entry.deposit.customer
        if not customer.mobile or row.entry.position is None:
            return None
        return outbox.Message(
            outbox.Channel.SMS, customer.mobile, "", notice_text(row.entry)
        )

    def after_sent(self, row: SessionOrderNotice, *, now: datetime) -> None:
        entry = row.entry
        interaction_log(
            customer=entry.deposit.customer,
            kind="system",
            actor=None,
            link=entry.deposit,
            entry=sales_events.SESSION_POSITION(
                session=entry.session.name,
                position=entry.position,
                slot=entry.slot_starts_at,
            ),
        )

    def describe(self, row: SessionOrderNotice) -> str:
        entry = row.entry
        return f"{entry.session} · #{entry.deposit.queue_number}"


NOTICES = OrderNoticeKind()


def notice_send(*, notice_id: int) -> bool:
    """Send one notice; a second call, or a concurrent one, sends nothing."""
    return outbox.send_one(NOTICES, notice_id)


def notices_pending(*, now: datetime | None = None) -> list[int]:
    """Notices to queue again: interrupted sends settled first, then every due row."""
    outbox.recover_stale(NOTICES, now=now)
    return outbox.due_ids(NOTICES, now=now)
