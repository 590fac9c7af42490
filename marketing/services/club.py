"""The member club: awarding points, corrections, balances and levels.

Members are owners: customers who own a home or signed for one, and the co-buyers
of such deals. Points come from the sources registered in marketing.points, at the
amount the active rule of each source gives. An award is keyed by its occurrence
("survey:17"), so the hourly sweep and the on-commit triggers (a referral reaching
contract, a check-in at an event) may both see one occurrence and it earns points
once. The ledger is only ever added to; a correction is a new entry, audited.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from itertools import islice

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from crm_site import jobs
from crm_site.audit import audit_record
from crm_site.models import AuditEntry, JobRun, User
from customers.models import Customer
from marketing.models import ClubLevel, ClubMember, PointEntry, PointRule
from marketing.points import Occurrence, point_source
from sales.models import CoBuyer, Opportunity

SIGNED = (Opportunity.Stage.CONTRACTED, Opportunity.Stage.PAID)
BATCH = 1000
SWEEP_JOB = "marketing.points_sweep"
# The sweep looks back this far before its previous run: an occurrence recorded late
# (a survey answered offline, typed in the next morning) is still found.
SWEEP_OVERLAP = timedelta(days=2)


def member_q() -> Q:
    """Customers who are club members: owners, buyers with a signed contract, and the
    co-buyers of a signed deal."""
    return (
        Q(stage=Customer.Stage.OWNER)
        | Q(
            Exists(
                Opportunity.objects.filter(customer_id=OuterRef("pk"), stage__in=SIGNED)
            )
        )
        | Q(
            Exists(
                CoBuyer.objects.filter(
                    customer_id=OuterRef("pk"), opportunity__stage__in=SIGNED
                )
            )
        )
    )


def members(customer_ids: Iterable[int] | None = None) -> QuerySet[Customer]:
    qs = Customer.objects.live().filter(member_q())
    if customer_ids is not None:
        qs = qs.filter(pk__in=list(customer_ids))
    return qs


def is_member(customer: Customer) -> bool:
    return members([customer.pk]).exists()


def club_levels() -> list[ClubLevel]:
    """Every level, lowest minimum first (a handful of rows)."""
    return list(ClubLevel.objects.order_by("min_points"))


def level_for(balance: int, levels: list[ClubLevel]) -> ClubLevel | None:
    """The highest level whose minimum the balance reaches; None below the lowest."""
    held = None
    for level in levels:
        if balance >= level.min_points:
            held = level
    return held


def next_level(balance: int, levels: list[ClubLevel]) -> ClubLevel | None:
    return next((level for level in levels if level.min_points > balance), None)


def level_range(level: ClubLevel, levels: list[ClubLevel]) -> tuple[int, int | None]:
    """The balances that hold ``level``: [its minimum, the next level's minimum)."""
    above = next((lv for lv in levels if lv.min_points > level.min_points), None)
    return level.min_points, above.min_points if above else None


# Balances ------------------------------------------------------------------------


def _lock_members(customer_ids: list[int]) -> None:
    """Make sure each member has a balance row and lock the rows (in id order, so two
    awards never deadlock): a concurrent award of the same member waits, and then
    sums a ledger that holds the other's entries."""
    if not customer_ids:
        return
    now = timezone.now()
    ClubMember.objects.bulk_create(
        [
            ClubMember(customer_id=pk, joined_at=now, updated_at=now)
            for pk in customer_ids
        ],
        ignore_conflicts=True,
    )
    list(
        ClubMember.objects.select_for_update()
        .filter(customer_id__in=customer_ids)
        .order_by("customer_id")
        .values_list("pk", flat=True)
    )


def balances_refresh(customer_ids: Iterable[int]) -> None:
    """Set each member's balance to the sum of their ledger (held locked by the
    caller when entries were added)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return
    member_table = connection.ops.quote_name(ClubMember._meta.db_table)
    entry_table = connection.ops.quote_name(PointEntry._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {member_table} AS m SET balance = COALESCE("
            f"(SELECT SUM(e.points) FROM {entry_table} AS e "
            "WHERE e.member_id = m.customer_id), 0), updated_at = %s "
            "WHERE m.customer_id = ANY(%s)",
            [timezone.now(), ids],
        )


def members_enrol() -> int:
    """A balance row for every member who has none yet (the members list shows the
    members who earned nothing so far too). One INSERT ... SELECT."""
    select_sql, params = (
        members()
        .exclude(Exists(ClubMember.objects.filter(customer_id=OuterRef("pk"))))
        .order_by()
        .values("pk")
        .query.sql_with_params()
    )
    table = connection.ops.quote_name(ClubMember._meta.db_table)
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (customer_id, balance, joined_at, updated_at) "
            f"SELECT picked.pk, 0, %s, %s FROM ({select_sql}) AS picked (pk) "
            "ON CONFLICT DO NOTHING",
            [now, now, *params],
        )
        return cursor.rowcount


# Awards --------------------------------------------------------------------------


def _batches(items: Iterable[Occurrence], size: int) -> Iterator[list[Occurrence]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


@transaction.atomic
def _award_batch(rule: PointRule, batch: list[Occurrence]) -> int:
    seen = {o.key for o in batch}
    done = set(PointEntry.objects.filter(key__in=seen).values_list("key", flat=True))
    fresh = {o.key: o for o in batch if o.key not in done}
    if not fresh:
        return 0
    allowed = set(
        members({o.customer_id for o in fresh.values()}).values_list("pk", flat=True)
    )
    wanted = [o for o in fresh.values() if o.customer_id in allowed]
    if not wanted:
        return 0
    customer_ids = sorted({o.customer_id for o in wanted})
    _lock_members(customer_ids)
    keys = [o.key[:80] for o in wanted]
    # Another award may have taken some of these keys since they were read.
    before = PointEntry.objects.filter(key__in=keys).count()
    # The unique key settles a race with another award of the same occurrence.
    PointEntry.objects.bulk_create(
        [
            PointEntry(
                member_id=o.customer_id,
                kind=PointEntry.Kind.AWARD,
                points=rule.points,
                source=rule.source,
                key=o.key[:80],
                occurred_at=o.occurred_at,
            )
            for o in wanted
        ],
        ignore_conflicts=True,
    )
    balances_refresh(customer_ids)
    return PointEntry.objects.filter(key__in=keys).count() - before


def points_award(
    *,
    source: str,
    customer_ids: Iterable[int] | None = None,
    since: datetime | None = None,
) -> int:
    """Award the source's occurrences (of these customers, since then) that have
    earned nothing yet, at the active rule's points. Returns how many entries were
    added; running it again adds none. Nothing without an active rule."""
    rule = PointRule.objects.filter(source=source, is_active=True).first()
    found = point_source(source)
    if rule is None or found is None:
        return 0
    ids = list(customer_ids) if customer_ids is not None else None
    if ids is not None and not ids:
        return 0
    occurrences = found.occurrences(since=since, customer_ids=ids)
    return sum(_award_batch(rule, batch) for batch in _batches(occurrences, BATCH))


def points_sweep(*, since: datetime | None = None) -> dict[str, int]:
    """Every active rule's occurrences since then (None: all), and a balance row for
    every member. Idempotent: a second run adds nothing."""
    members_enrol()
    return {
        rule.source: points_award(source=rule.source, since=since)
        for rule in PointRule.objects.filter(is_active=True)
    }


def sweep_job(*, now: datetime) -> str:
    """The hourly sweep (crm_site.jobs runs it once an hour, and catches a missed hour
    up): occurrences since the previous run, with an overlap."""
    previous = (
        JobRun.objects.filter(name=SWEEP_JOB)
        .values_list("last_started", flat=True)
        .first()
    )
    since = previous - SWEEP_OVERLAP if previous else None
    awarded = points_sweep(since=since)
    return ", ".join(f"{k}: {v}" for k, v in awarded.items()) or "no active rules"


def register_jobs() -> None:
    jobs.register(jobs.ScheduledJob(name=SWEEP_JOB, every=jobs.HOURLY, run=sweep_job))


# Corrections ---------------------------------------------------------------------


def correction_answering(
    entry: PointEntry, *, member_id: int, reason: str, actor: User | None
) -> PointEntry:
    """A correction that cancels ``entry``'s points on ``member_id``'s ledger (which
    is never edited: an entry is answered by another), with ``entry``'s source, which
    tells it from a correction by staff; audited. The caller holds the member locked
    and refreshes the balance."""
    correction = PointEntry.objects.create(
        member_id=member_id,
        kind=PointEntry.Kind.CORRECTION,
        points=-entry.points,
        source=entry.source,
        reason=reason[:200],
        corrects=entry,
        created_by=actor,
    )
    audit_record(
        actor=actor,
        instance=correction,
        action=AuditEntry.Action.CREATE,
        changes={
            "points": {"old": "", "new": f"{correction.points:+d}"},
            "reason": {"old": "", "new": correction.reason},
            "corrects": {"old": "", "new": str(entry.pk)},
        },
    )
    return correction


@transaction.atomic
def _points_take_back(
    *, actor: User | None, keys: Iterable[str], reason: str
) -> list[PointEntry]:
    """points_take_back, returning the corrections it added."""
    awards = PointEntry.objects.filter(kind=PointEntry.Kind.AWARD, key__in=list(keys))
    member_ids = sorted(set(awards.values_list("member_id", flat=True)))
    if not member_ids:
        return []
    _lock_members(member_ids)
    # Read under the lock: a take-back of the same awards running at the same time
    # has committed its corrections, and these awards no longer stand.
    added = [
        correction_answering(
            award, member_id=award.member_id, reason=reason, actor=actor
        )
        for award in awards.standing().order_by("pk")
    ]
    if added:
        balances_refresh(member_ids)
    return added


def points_take_back(*, actor: User | None, keys: Iterable[str], reason: str) -> int:
    """Awards whose occurrence no longer stands (the deal that earned a referral's
    points was cancelled): each award that stands is answered by a correction of its
    points, once, on the ledger of whoever holds it now; the award itself stays. The
    correction carries the award's source, which tells it from a correction by staff.
    An award taken back and given back since stands again and is taken back again
    (PointEntryQuerySet.standing). Returns how many awards were answered."""
    return len(_points_take_back(actor=actor, keys=keys, reason=reason))


@transaction.atomic
def points_correct(
    *,
    actor: User,
    member: Customer,
    points: int,
    reason: str,
    corrects: PointEntry | None = None,
) -> PointEntry:
    """Add a correction to the member's ledger (the entries stay as they were): the
    points, positive or negative, and the reason. Audited."""
    reason = reason.strip()
    if not reason:
        raise ValidationError(_("Say why the points are corrected."))
    if points == 0:
        raise ValidationError(_("A correction adds or removes at least one point."))
    if not is_member(member):
        raise ValidationError(_("Only club members have points to correct."))
    if corrects is not None and corrects.member_id != member.pk:
        raise ValidationError(_("That entry is not this member's."))
    _lock_members([member.pk])
    if points < 0:
        # Read under the member's lock: a correction or take-back at the same moment
        # has committed, and its points are in the sum.
        balance = (
            PointEntry.objects.filter(member=member).aggregate(total=Sum("points"))[
                "total"
            ]
            or 0
        )
        if balance + points < 0:
            raise ValidationError(
                {
                    "points": _(
                        "The member has %(balance)s points: a correction cannot take "
                        "the balance below zero."
                    )
                    % {"balance": balance}
                }
            )
    entry = PointEntry.objects.create(
        member=member,
        kind=PointEntry.Kind.CORRECTION,
        points=points,
        reason=reason[:200],
        corrects=corrects,
        created_by=actor,
    )
    balances_refresh([member.pk])
    audit_record(
        actor=actor,
        instance=entry,
        action=AuditEntry.Action.CREATE,
        changes={
            "points": {"old": "", "new": f"{points:+d}"},
            "reason": {"old": "", "new": entry.reason},
            **(
                {"corrects": {"old": "", "new": str(corrects.pk)}}
                if corrects is not None
                else {}
            ),
        },
    )
    return entry
