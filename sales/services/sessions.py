"""Selection sessions (开盘选房) around the selection itself: setting one up, opening
it, calling buyers to the desk, closing it, and its report.

The selection (sales.services.opening.selection_make) and the order of the entries
(sales.services.lottery) live elsewhere; this module owns the session's life.

A unit is offered in one live session at a time (draft, ordered or open): the unit
rows are locked (SELECT … FOR UPDATE, in id order as unit_reserve locks one) before
the other live sessions are checked, so two managers setting up two sessions at the
same moment cannot both take one unit. While a session is ordered or open, the
normal reserve and subscribe of its units are refused (sales.services.deals).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from crm_site import live
from crm_site.audit import audit_created, audit_record, diff, snapshot
from crm_site.models import AuditEntry, User
from crm_site.notifications import notify
from sales import events as sales_events
from sales.models import (
    Building,
    DepositRefund,
    IntentDeposit,
    Project,
    Selection,
    SelectionSession,
    SessionEntry,
    SessionUnit,
    Unit,
)
from sales.services.lottery import entries_taking_no_part
from sales.services.money import sales_managers_of

Status = SelectionSession.Status
# Sessions in which a unit counts as offered: one of them at a time per unit.
LIVE_STATUSES = (Status.DRAFT, Status.ORDERED, Status.OPEN)
# Sessions whose units the normal reserve/subscribe may not touch.
SELLING_STATUSES = (Status.ORDERED, Status.OPEN)
# What a session's form changes; each one changed is written in the audit trail.
RULE_FIELDS = [
    "name",
    "starts_at",
    "mode",
    "order",
    "units_per_buyer",
    "units_per_household",
    "minutes_per_buyer",
]


class SessionRefused(ValidationError):
    """A session action refused by a rule, with a code a screen can act on."""

    def __init__(self, message: str, code: str, field: str | None = None) -> None:
        super().__init__(message, code=code)
        # The form field the message belongs next to (None: the whole form).
        self.field = field


# --- who sees which sessions -------------------------------------------------------


def sessions_visible_to(user: User) -> QuerySet[SelectionSession]:
    """Sessions of the projects the user sells (projects_visible_to)."""
    return SelectionSession.objects.filter(project__in=projects_visible_to(user))


def projects_visible_to(user: User) -> QuerySet[Project]:
    """A project with sales teams is seen by their members (and by roles that see
    everything); a project without teams by everyone at the sales desk."""
    qs = Project.objects.all()
    if not user.is_authenticated or not user.has_perm("sales.view_sales_desk"):
        return qs.none()
    if user.has_perm("customers.scope_all"):
        return qs
    return qs.filter(Q(teams__isnull=True) | Q(teams__id=user.team_id)).distinct()


# --- setting a session up ----------------------------------------------------------


def _check_rules(
    *, units_per_buyer: int, units_per_household: int, minutes_per_buyer: int
) -> None:
    if units_per_buyer < 1:
        raise SessionRefused(
            _("A buyer must be allowed at least one unit."),
            "rules",
            "units_per_buyer",
        )
    if units_per_household < units_per_buyer:
        raise SessionRefused(
            _("A household may not be allowed fewer units than one of its buyers."),
            "rules",
            "units_per_household",
        )
    if minutes_per_buyer < 1:
        raise SessionRefused(
            _("Give each buyer at least one minute."), "rules", "minutes_per_buyer"
        )


def _chosen_units(
    *,
    project: Project,
    buildings: Iterable[Building],
    floors: Iterable[int] | None,
    layouts: Iterable[str] | None,
    session: SelectionSession | None,
) -> list[Unit]:
    """The available units chosen, locked; refused when one is offered elsewhere."""
    building_ids = [b.pk for b in buildings]
    if not building_ids:
        raise SessionRefused(_("Choose at least one building."), "units", "buildings")
    if any(b.project_id != project.pk for b in buildings):
        raise SessionRefused(
            _("A building belongs to another project."), "units", "buildings"
        )
    qs = Unit.objects.filter(building_id__in=building_ids, status=Unit.Status.AVAILABLE)
    floors = list(floors or [])
    layouts = [layout for layout in (layouts or []) if layout]
    if floors:
        qs = qs.filter(floor__in=floors)
    if layouts:
        qs = qs.filter(layout__in=layouts)
    # Locked in id order, as every other locker of several units does.
    units = list(qs.select_for_update().order_by("pk"))
    if not units:
        raise SessionRefused(
            _("No unit on sale matches the buildings, floors and layouts chosen."),
            "units",
            "buildings",
        )
    elsewhere = SessionUnit.objects.filter(
        unit__in=units, session__status__in=LIVE_STATUSES
    )
    if session is not None:
        elsewhere = elsewhere.exclude(session=session)
    taken = list(
        elsewhere.select_related("unit", "session").order_by("unit__number")[:10]
    )
    if taken:
        raise SessionRefused(
            _("Already offered in another session: %(units)s.")
            % {
                "units": ", ".join(
                    f"{row.unit.number} ({row.session.name})" for row in taken
                )
            },
            "offered",
            "buildings",
        )
    return units


@transaction.atomic
def session_create(
    *,
    actor: User,
    project: Project,
    name: str,
    starts_at: datetime,
    mode: str,
    order: str,
    units_per_buyer: int = 1,
    units_per_household: int = 1,
    minutes_per_buyer: int = 5,
    buildings: Iterable[Building],
    floors: Iterable[int] | None = None,
    layouts: Iterable[str] | None = None,
) -> SelectionSession:
    """A draft session offering the available units of the buildings chosen
    (optionally only some floors and layouts)."""
    _check_rules(
        units_per_buyer=units_per_buyer,
        units_per_household=units_per_household,
        minutes_per_buyer=minutes_per_buyer,
    )
    buildings = list(buildings)
    units = _chosen_units(
        project=project,
        buildings=buildings,
        floors=floors,
        layouts=layouts,
        session=None,
    )
    session = SelectionSession.objects.create(
        project=project,
        name=name,
        starts_at=starts_at,
        mode=mode,
        order=order,
        units_per_buyer=units_per_buyer,
        units_per_household=units_per_household,
        minutes_per_buyer=minutes_per_buyer,
        created_by=actor,
    )
    SessionUnit.objects.bulk_create(SessionUnit(session=session, unit=u) for u in units)
    audit_record(
        actor=actor,
        instance=session,
        action=AuditEntry.Action.CREATE,
        changes={"units": {"old": "", "new": str(len(units))}},
    )
    return session


@transaction.atomic
def session_update(
    *,
    actor: User,
    session: SelectionSession,
    name: str,
    starts_at: datetime,
    mode: str,
    order: str,
    units_per_buyer: int,
    units_per_household: int,
    minutes_per_buyer: int,
    buildings: Iterable[Building],
    floors: Iterable[int] | None = None,
    layouts: Iterable[str] | None = None,
) -> SelectionSession:
    """Change a session still being prepared: its rules and its units. Once the order
    is published the buyers were told their slots, so nothing changes any more."""
    session = SelectionSession.objects.select_for_update().get(pk=session.pk)
    if session.status != Status.DRAFT:
        raise SessionRefused(
            _("Only a session being prepared can be changed."), "status"
        )
    if session.seed_commitment and order != session.order:
        # The fingerprint promised a draw: the order rule is final once published.
        raise SessionRefused(
            _("The lottery's fingerprint is published: its order rule is final."),
            "order",
            "order",
        )
    _check_rules(
        units_per_buyer=units_per_buyer,
        units_per_household=units_per_household,
        minutes_per_buyer=minutes_per_buyer,
    )
    units = _chosen_units(
        project=session.project,
        buildings=list(buildings),
        floors=floors,
        layouts=layouts,
        session=session,
    )
    offered = set(session.session_units.values_list("unit_id", flat=True))
    before = snapshot(session, RULE_FIELDS)
    session.name = name
    session.starts_at = starts_at
    session.mode = mode
    session.order = order
    session.units_per_buyer = units_per_buyer
    session.units_per_household = units_per_household
    session.minutes_per_buyer = minutes_per_buyer
    session.save()
    wanted = {u.pk for u in units}
    session.session_units.exclude(unit_id__in=wanted).delete()
    SessionUnit.objects.bulk_create(
        SessionUnit(session=session, unit_id=pk) for pk in sorted(wanted - offered)
    )
    # Every rule changed, old and new: who changed the order rule or a limit
    # before the order was published is on the record.
    changes = diff(session, before)
    if wanted != offered:
        changes["units"] = {"old": str(len(offered)), "new": str(len(wanted))}
    if changes:
        audit_record(
            actor=actor,
            instance=session,
            action=AuditEntry.Action.UPDATE,
            changes=changes,
        )
    return session


def _status_change(
    session: SelectionSession, actor: User, old: str, field: str = "status"
) -> None:
    audit_record(
        actor=actor,
        instance=session,
        action=AuditEntry.Action.UPDATE,
        changes={field: {"old": old, "new": str(getattr(session, field))}},
    )


@transaction.atomic
def session_open(*, actor: User, session: SelectionSession) -> SelectionSession:
    """Start selecting: an ordered session opens; a first-come session has no order
    to publish and opens from draft once it has entries."""
    session = SelectionSession.objects.select_for_update().get(pk=session.pk)
    if session.status == Status.OPEN:
        return session
    first_come = session.order == SelectionSession.Order.FIRST_COME
    if session.status == Status.DRAFT and first_come:
        # It opens without an order being set: drop here what setting one drops.
        entries_taking_no_part(session).delete()
        if not session.entries.exists():
            raise SessionRefused(
                _("Enter the deposits in the session before opening it."), "entries"
            )
    elif session.status != Status.ORDERED:
        raise SessionRefused(
            _("Publish the order before opening the session."), "status"
        )
    old = session.status
    session.status = Status.OPEN
    session.opened_at = timezone.now()
    session.save(update_fields=["status", "opened_at"])
    _status_change(session, actor, old)
    return session


def _call(session: SelectionSession, actor: User, position: int) -> SelectionSession:
    old = str(session.called_position)
    session.called_position = position
    session.save(update_fields=["called_position"])
    # The audit row is also when the buyer was called: the report measures the time
    # from the call to the selection with it.
    audit_record(
        actor=actor,
        instance=session,
        action=AuditEntry.Action.UPDATE,
        changes={"called_position": {"old": old, "new": str(position)}},
    )
    topic = session.topic
    transaction.on_commit(
        lambda: live.publish(topic, {"position": position}, name="called")
    )
    return session


def _locked_open(session: SelectionSession) -> SelectionSession:
    session = SelectionSession.objects.select_for_update().get(pk=session.pk)
    if session.status != Status.OPEN:
        raise SessionRefused(_("The selection session is not open."), "not_open")
    return session


@transaction.atomic
def session_call_next(*, actor: User, session: SelectionSession) -> SelectionSession:
    """Call the next buyer who may still choose (their deposit not yet used or
    refunded) to the selection desk."""
    session = _locked_open(session)
    following = (
        session.entries.filter(
            position__gt=session.called_position,
            deposit__status=IntentDeposit.Status.ACTIVE,
        )
        .order_by("position")
        .values_list("position", flat=True)
        .first()
    )
    if following is None:
        raise SessionRefused(_("Every buyer in the order has been called."), "done")
    return _call(session, actor, following)


@transaction.atomic
def session_call(
    *, actor: User, session: SelectionSession, position: int
) -> SelectionSession:
    """Call a given position (a buyer who missed their turn comes back)."""
    session = _locked_open(session)
    if not session.entries.filter(position=position).exists():
        raise SessionRefused(
            _("No buyer has number %(position)s in this session.")
            % {"position": position},
            "position",
            "position",
        )
    return _call(session, actor, position)


class CloseChoice:
    REFUND = "refund"
    MOVE = "move"


@dataclass(frozen=True)
class CloseResult:
    released: int = 0
    refunds: int = 0
    moved: int = 0
    already_closed: bool = False


def _sign_claims(session: SelectionSession) -> None:
    """Selections claimed on buyers' phones whose paperwork a worker has not done
    yet are signed now: their deposits are applied to their deals, not refunded."""
    from sales.services.opening import SelectionRefused, selection_complete

    pending = session.selections.filter(
        opportunity__isnull=True, cancelled_at=None
    ).values_list("pk", flat=True)
    for pk in pending:
        try:
            selection_complete(pk)
        except SelectionRefused as exc:
            raise SessionRefused(exc.messages[0], "unsigned") from exc


def unused_deposits(session: SelectionSession) -> QuerySet[IntentDeposit]:
    """The deposits closing ``session`` refunds or moves (the close page counts
    them): entered in it, still valid, no refund waiting and no unit chosen in it."""
    return (
        IntentDeposit.objects.filter(
            pk__in=session.entries.values("deposit_id"),
            status=IntentDeposit.Status.ACTIVE,
        )
        .exclude(refunds__status=DepositRefund.Status.PENDING)
        .exclude(
            pk__in=Selection.objects.filter(session=session, cancelled_at=None).values(
                "entry__deposit_id"
            )
        )
    )


@transaction.atomic
def session_close(
    *,
    actor: User,
    session: SelectionSession,
    deposits: str,
    next_session: SelectionSession | None = None,
) -> CloseResult:
    """Close the session: its unsold units go back to normal sale, and each deposit
    still unused is either queued for refund (a manager approves it as any refund)
    or moved to the next session (entered there without a position until that
    session's order is set). Closing a closed session does nothing."""
    session = SelectionSession.objects.select_for_update().get(pk=session.pk)
    if session.status == Status.CLOSED:
        return CloseResult(already_closed=True)
    if deposits not in (CloseChoice.REFUND, CloseChoice.MOVE):
        raise SessionRefused(
            _("Choose what happens to the unused deposits."), "choice", "deposits"
        )
    if deposits == CloseChoice.MOVE:
        if next_session is None:
            raise SessionRefused(
                _("Choose the session the deposits move to."), "next", "next_session"
            )
        next_session = SelectionSession.objects.select_for_update().get(
            pk=next_session.pk
        )
        if (
            next_session.pk == session.pk
            or next_session.project_id != session.project_id
            or next_session.status != Status.DRAFT
        ):
            raise SessionRefused(
                _(
                    "Deposits can move only to another session of the project "
                    "that is still being prepared."
                ),
                "next",
                "next_session",
            )
    if deposits == CloseChoice.MOVE and next_session.seed_commitment:
        # A lottery whose list is sealed by its published fingerprint takes no one
        # more: they would push back every buyer drawn after them.
        raise SessionRefused(
            _(
                "The next session's lottery fingerprint is published: its list of "
                "buyers is final, and no deposit moves into it."
            ),
            "next",
            "next_session",
        )
    _sign_claims(session)
    old = session.status
    session.status = Status.CLOSED
    session.closed_at = timezone.now()
    session.save(update_fields=["status", "closed_at"])
    _status_change(session, actor, old)

    locked = list(unused_deposits(session).select_for_update().order_by("pk"))
    # The statement that took the locks does not see what committed while it
    # waited for them: a claim on a buyer's phone (its deposit is the
    # subscription's, applied when the worker signs it), a refund asked on the
    # deposit page (deposit_refund_request locks the deposit, then adds the
    # refund: that refund is the one waiting, not a second). A fresh statement of
    # the same rule does, and neither is refunded nor moved.
    still = set(
        unused_deposits(session)
        .filter(pk__in=[deposit.pk for deposit in locked])
        .values_list("pk", flat=True)
    )
    unused = [deposit for deposit in locked if deposit.pk in still]
    # Unsold units: they are already "available"; closing the session is what puts
    # them back on normal sale (deals.unit_reserve no longer refuses them).
    released = list(
        Unit.objects.filter(
            pk__in=session.session_units.values("unit_id"),
            status=Unit.Status.AVAILABLE,
        ).values_list("pk", flat=True)
    )
    refunds = moved = 0
    if deposits == CloseChoice.REFUND:
        reason = _("Selection session closed: %(name)s") % {"name": session.name}
        queued = DepositRefund.objects.bulk_create(
            DepositRefund(
                deposit=deposit,
                amount=deposit.amount,
                reason=reason[:200],
                requested_by=actor,
            )
            for deposit in unused
        )
        # Each refund is on the record as one asked on the deposit page is.
        audit_created(actor=actor, rows=queued, fields=["amount", "reason"])
        refunds = len(queued)
        # The closer asked them: another manager decides (four eyes), told once.
        if refunds:
            url = reverse("sales:deposit-refund-list")
            for manager in sales_managers_of(actor, session.project).exclude(
                pk=actor.pk
            ):
                notify(
                    user=manager,
                    entry=sales_events.SESSION_REFUNDS_ASKED(
                        who=actor.display_name, session=session.name, count=refunds
                    ),
                    url=url,
                )
    else:
        assert next_session is not None
        already = set(
            next_session.entries.filter(deposit__in=unused).values_list(
                "deposit_id", flat=True
            )
        )
        SessionEntry.objects.bulk_create(
            SessionEntry(session=next_session, deposit=deposit)
            for deposit in unused
            if deposit.pk not in already
        )
        moved = len(unused) - len(already)
        if moved:
            # As filling the session is: who entered how many buyers, and from where.
            audit_record(
                actor=actor,
                instance=next_session,
                action=AuditEntry.Action.UPDATE,
                changes={
                    "entries": {"old": "", "new": str(moved)},
                    "moved_from": {"old": "", "new": f"{session.name} (#{session.pk})"},
                },
            )

    topic = session.topic

    def announce() -> None:
        for unit_id in released:
            live.publish(
                topic, {"unit": unit_id, "status": "available"}, name="released"
            )
        live.publish(topic, {}, name="closed")

    transaction.on_commit(announce)
    return CloseResult(released=len(released), refunds=refunds, moved=moved)


# --- what the screens show ---------------------------------------------------------


@dataclass
class GridCell:
    unit: Unit | None


@dataclass
class GridBuilding:
    building: Building
    positions: list[int]
    rows: list[tuple[int, list[GridCell]]]


@dataclass
class SessionGrid:
    buildings: list[GridBuilding]
    total: int
    sold: int

    @property
    def left(self) -> int:
        return self.total - self.sold


def session_grid(*, session: SelectionSession) -> SessionGrid:
    """The session's units, building by building as floors (top down) × positions:
    one query whatever the number of units."""
    units = list(
        Unit.objects.filter(
            pk__in=SessionUnit.objects.filter(session=session).values("unit_id")
        )
        .select_related("building")
        .only(
            "id",
            "number",
            "floor",
            "position",
            "layout",
            "gross_area",
            "list_price",
            "status",
            "building__id",
            "building__name",
            "building__project_id",
        )
        .order_by("building__name", "-floor", "position")
    )
    by_building: dict[int, list[Unit]] = defaultdict(list)
    buildings: dict[int, Building] = {}
    for unit in units:
        by_building[unit.building_id].append(unit)
        buildings[unit.building_id] = unit.building
    out = []
    for building_id, members in by_building.items():
        positions = sorted({u.position for u in members})
        floors: dict[int, dict[int, Unit]] = defaultdict(dict)
        for unit in members:
            floors[unit.floor][unit.position] = unit
        rows = [
            (floor, [GridCell(cells.get(p)) for p in positions])
            for floor, cells in sorted(floors.items(), reverse=True)
        ]
        out.append(GridBuilding(buildings[building_id], positions, rows))
    sold = sum(1 for u in units if u.status != Unit.Status.AVAILABLE)
    return SessionGrid(buildings=out, total=len(units), sold=sold)


def mask_name(name: str) -> str:
    """张** — the surname only, for a screen the buyer's neighbours can read."""
    return (name[:1] + "*" * max(len(name) - 1, 1)) if name else ""


@dataclass(frozen=True)
class CalledBuyer:
    entry: SessionEntry
    name: str
    units_left: int
    household_left: int | None


def called_buyer(*, session: SelectionSession, viewer: User) -> CalledBuyer | None:
    """The buyer at the desk: the entry of the called number, with what they may
    still choose. The name is shown in full only to who may see the customer's
    contact details."""
    if not session.called_position:
        return None
    entry = (
        session.entries.filter(position=session.called_position)
        .select_related("deposit__customer")
        .first()
    )
    if entry is None:
        return None
    customer = entry.deposit.customer
    live_selections = Selection.objects.filter(session=session, cancelled_at=None)
    mine = live_selections.filter(entry=entry).count()
    household_left = None
    if customer.household_id is not None:
        theirs = live_selections.filter(household_id=customer.household_id).count()
        household_left = max(session.units_per_household - theirs, 0)
    name = (
        customer.name
        if customer.contact_visible_to(viewer)
        else mask_name(customer.name)
    )
    return CalledBuyer(
        entry=entry,
        name=name,
        units_left=max(session.units_per_buyer - mine, 0),
        household_left=household_left,
    )


# --- the report --------------------------------------------------------------------


@dataclass(frozen=True)
class ReportRow:
    label: str
    count: int
    value: Decimal


@dataclass
class SessionReport:
    sold: int = 0
    value: Decimal = Decimal("0.00")
    offered: int = 0
    by_layout: list[ReportRow] = field(default_factory=list)
    by_building: list[ReportRow] = field(default_factory=list)
    by_consultant: list[ReportRow] = field(default_factory=list)
    by_channel: list[ReportRow] = field(default_factory=list)
    # Seconds from the buyer's call (on site) or slot start (online) to their first
    # selection.
    seconds_p50: float | None = None
    seconds_avg: float | None = None
    per_ten_minutes: list[tuple[datetime, int]] = field(default_factory=list)


def _rows(pairs: list[tuple[str, Decimal]]) -> list[ReportRow]:
    counts: Counter[str] = Counter()
    values: dict[str, Decimal] = defaultdict(Decimal)
    for label, value in pairs:
        counts[label] += 1
        values[label] += value
    return [
        ReportRow(label, counts[label], values[label])
        for label in sorted(counts, key=lambda k: (-counts[k], k))
    ]


def _call_times(session: SelectionSession) -> dict[int, datetime]:
    """When each position was first called, from the audit rows _call writes."""
    rows = AuditEntry.objects.filter(
        content_type__app_label="sales",
        content_type__model="selectionsession",
        object_id=session.pk,
        changes__has_key="called_position",
    ).values_list("changes", "created_at")
    called: dict[int, datetime] = {}
    for changes, at in rows:
        try:
            position = int(changes["called_position"]["new"])
        except (KeyError, TypeError, ValueError):
            continue
        if position not in called or at < called[position]:
            called[position] = at
    return called


def session_report(*, session: SelectionSession) -> SessionReport:
    """What the session sold, split every way a manager asks, and how fast: a fixed
    number of queries whatever the number of selections."""
    selections = list(
        Selection.objects.filter(session=session, cancelled_at=None)
        .select_related(
            "unit__building",
            "opportunity__consultant",
            "selected_by",
            "entry__deposit__consultant",
        )
        .order_by("selected_at", "pk")
    )
    report = SessionReport(offered=session.session_units.count())
    if not selections:
        return report
    channels = dict(Selection.Channel.choices)

    def value(s: Selection) -> Decimal:
        # A claim whose paperwork is still being done has no deal yet.
        deal = s.opportunity
        return (deal.agreed_price if deal else None) or s.unit.list_price

    report.sold = len(selections)
    report.value = sum((value(s) for s in selections), Decimal("0.00"))
    report.by_layout = _rows([(s.unit.layout or "—", value(s)) for s in selections])
    report.by_building = _rows([(s.unit.building.name, value(s)) for s in selections])
    report.by_consultant = _rows(
        [
            (
                (
                    s.selected_by
                    or (s.opportunity.consultant if s.opportunity else None)
                    or s.entry.deposit.consultant
                ).display_name,
                value(s),
            )
            for s in selections
        ]
    )
    report.by_channel = _rows(
        [(str(channels.get(s.channel, s.channel)), value(s)) for s in selections]
    )

    called = _call_times(session)
    first_start = session.opened_at or session.starts_at
    seconds: list[float] = []
    seen: set[int] = set()
    for s in selections:
        if s.entry_id in seen:
            continue
        seen.add(s.entry_id)
        if s.channel == Selection.Channel.ON_SITE and s.entry.position in called:
            start = called[s.entry.position]
        elif (
            session.order != SelectionSession.Order.FIRST_COME
            and s.entry.slot_starts_at is not None
        ):
            start = s.entry.slot_starts_at
        else:
            start = first_start
        seconds.append(max((s.selected_at - start).total_seconds(), 0.0))
    report.seconds_p50 = statistics.median(seconds)
    report.seconds_avg = sum(seconds) / len(seconds)

    # Ten-minute buckets from the first selection, empty ones included.
    origin = selections[0].selected_at.replace(second=0, microsecond=0)
    origin -= timedelta(minutes=origin.minute % 10)
    buckets: Counter[int] = Counter(
        int((s.selected_at - origin).total_seconds() // 600) for s in selections
    )
    report.per_ten_minutes = [
        (origin + timedelta(minutes=10 * i), buckets.get(i, 0))
        for i in range(max(buckets) + 1)
    ]
    return report


def unit_in_selling_session(unit_id: int) -> SelectionSession | None:
    """The ordered or open session offering the unit, if any (deals asks it)."""
    row = (
        SessionUnit.objects.filter(
            unit_id=unit_id, session__status__in=SELLING_STATUSES
        )
        .select_related("session")
        .first()
    )
    return row.session if row else None
