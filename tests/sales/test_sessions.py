"""Selection sessions around the selection: set-up, calling, closing, the report
(sales.services.sessions) and the normal sale refusing a session's units."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from crm_site import live
from crm_site.models import AuditEntry
from sales.models import (
    DepositRefund,
    IntentDeposit,
    Selection,
    SelectionSession,
    SessionEntry,
    Unit,
)
from sales.services import opportunity_open, unit_reserve, unit_subscribe
from sales.services import sessions as service
from sales.services.opening import selection_make
from tests.factories import CustomerFactory
from tests.opening_fixtures import enter, make_deposit, make_session, opening_project

pytestmark = pytest.mark.django_db

Status = SelectionSession.Status
ON_SITE = Selection.Channel.ON_SITE


def _create(actor, project, **rules):
    values = {
        "name": "一期首开",
        "starts_at": timezone.now() + timedelta(days=1),
        "mode": SelectionSession.Mode.ON_SITE,
        "order": SelectionSession.Order.QUEUE,
        "units_per_buyer": 1,
        "units_per_household": 1,
        "minutes_per_buyer": 5,
        "buildings": list(project.buildings.all()),
    }
    values.update(rules)
    return service.session_create(actor=actor, project=project, **values)


@pytest.fixture
def opening():
    return opening_project(floors=5, per_floor=2)


def test_a_session_offers_the_available_units_of_the_chosen_floors_and_layouts(
    opening, sales_manager
):
    project, units = opening
    units[0].status = Unit.Status.RESERVED
    units[0].save()
    top = max(u.floor for u in units)
    session = _create(sales_manager, project, floors=[top, top - 1])
    offered = set(session.session_units.values_list("unit_id", flat=True))
    expected = {
        u.pk
        for u in units
        if u.floor in (top, top - 1) and u.status == Unit.Status.AVAILABLE
    }
    assert offered == expected and units[0].pk not in offered
    assert session.status == Status.DRAFT

    layout = units[1].layout
    lower = sorted({u.floor for u in units} - {top, top - 1})
    by_layout = _create(
        sales_manager, project, name="二批", floors=lower, layouts=[layout]
    )
    assert set(
        Unit.objects.filter(
            pk__in=by_layout.session_units.values("unit_id")
        ).values_list("layout", flat=True)
    ) == {layout}


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ({"units_per_buyer": 0}, "units_per_buyer"),
        ({"units_per_buyer": 2, "units_per_household": 1}, "units_per_household"),
        ({"minutes_per_buyer": 0}, "minutes_per_buyer"),
        ({"buildings": []}, "buildings"),
        ({"floors": [99]}, "buildings"),
    ],
)
def test_session_create_refuses_rules_that_cannot_work_and_saves_nothing(
    opening, sales_manager, rules, field
):
    project, _units = opening
    with pytest.raises(service.SessionRefused) as refused:
        _create(sales_manager, project, **rules)
    assert refused.value.field == field
    assert not SelectionSession.objects.exists()


def test_a_unit_already_offered_in_a_live_session_is_refused_in_another(
    opening, sales_manager
):
    project, units = opening
    _create(sales_manager, project)
    with pytest.raises(service.SessionRefused) as refused:
        _create(sales_manager, project, name="又一场")
    assert refused.value.code == "offered"
    assert units[0].number in refused.value.messages[0]
    assert SelectionSession.objects.count() == 1


def test_a_closed_sessions_units_may_be_offered_again(opening, sales_manager):
    project, _units = opening
    first = _create(sales_manager, project)
    service.session_close(actor=sales_manager, session=first, deposits="refund")
    second = _create(sales_manager, project, name="加推")
    assert second.session_units.count() == first.session_units.count()


@pytest.mark.django_db(transaction=True)
def test_two_managers_creating_sessions_at_once_never_both_take_a_unit(
    opening, sales_manager
):
    project, _units = opening
    barrier = threading.Barrier(2)
    results: list[object] = []

    def create(name: str) -> None:
        try:
            barrier.wait()
            results.append(_create(sales_manager, project, name=name))
        except service.SessionRefused as exc:
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(n,)) for n in ("甲", "乙")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(type(r).__name__ for r in results) == [
        "SelectionSession",
        "SessionRefused",
    ]
    assert SelectionSession.objects.count() == 1


def test_session_update_changes_rules_and_units_of_a_draft_only(opening, sales_manager):
    project, units = opening
    session = _create(sales_manager, project)
    top = max(u.floor for u in units)
    service.session_update(
        actor=sales_manager,
        session=session,
        name="改名",
        starts_at=session.starts_at,
        mode=SelectionSession.Mode.BOTH,
        order=SelectionSession.Order.LOTTERY,
        units_per_buyer=2,
        units_per_household=3,
        minutes_per_buyer=4,
        buildings=list(project.buildings.all()),
        floors=[top],
    )
    session.refresh_from_db()
    assert (session.name, session.units_per_buyer, session.units_per_household) == (
        "改名",
        2,
        3,
    )
    assert session.session_units.count() == 2
    session.status = Status.ORDERED
    session.save()
    with pytest.raises(service.SessionRefused):
        service.session_update(
            actor=sales_manager,
            session=session,
            name="再改",
            starts_at=session.starts_at,
            mode=session.mode,
            order=session.order,
            units_per_buyer=1,
            units_per_household=1,
            minutes_per_buyer=5,
            buildings=list(project.buildings.all()),
        )


def _deal(consultant, project):
    customer = CustomerFactory(assigned_consultant=consultant)
    return opportunity_open(actor=consultant, customer=customer, project=project)


@pytest.mark.parametrize("status", [Status.ORDERED, Status.OPEN])
def test_normal_reserve_and_subscribe_refuse_a_unit_of_a_selling_session(
    opening, consultant, sales_manager, status
):
    project, units = opening
    session = make_session(project=project, created_by=sales_manager, status=status)
    with pytest.raises(ValidationError) as refused:
        unit_reserve(
            actor=consultant, opportunity=_deal(consultant, project), unit=units[0]
        )
    assert session.name in refused.value.messages[0]
    deal = _deal(consultant, project)
    deal.unit = units[1]
    deal.save()
    with pytest.raises(ValidationError, match=session.name):
        unit_subscribe(actor=consultant, opportunity=deal)
    units[0].refresh_from_db()
    assert units[0].status == Unit.Status.AVAILABLE


def test_normal_reserve_still_works_for_a_draft_or_closed_sessions_unit(
    opening, consultant, sales_manager
):
    project, units = opening
    make_session(project=project, created_by=sales_manager, status=Status.DRAFT)
    unit_reserve(
        actor=consultant, opportunity=_deal(consultant, project), unit=units[0]
    )
    closed = make_session(
        project=project,
        created_by=sales_manager,
        status=Status.CLOSED,
        units=[units[1]],
    )
    assert closed.status == Status.CLOSED
    unit_reserve(
        actor=consultant, opportunity=_deal(consultant, project), unit=units[1]
    )


def test_a_selection_in_the_open_session_still_subscribes_its_unit(
    opening, consultant, sales_manager
):
    project, units = opening
    session = make_session(project=project, created_by=sales_manager)
    entry = enter(session, make_deposit(project=project, consultant=consultant))
    selection_make(
        session=session, entry=entry, unit=units[0], channel=ON_SITE, actor=consultant
    )
    units[0].refresh_from_db()
    assert units[0].status == Unit.Status.SUBSCRIBED


def test_session_open_needs_a_published_order_or_first_come_entries(
    opening, consultant, sales_manager
):
    project, _units = opening
    queued = make_session(
        project=project, created_by=sales_manager, status=Status.DRAFT
    )
    with pytest.raises(service.SessionRefused):
        service.session_open(actor=sales_manager, session=queued)
    queued.status = Status.ORDERED
    queued.save()
    assert service.session_open(actor=sales_manager, session=queued).status == (
        Status.OPEN
    )
    rush = make_session(
        project=project,
        created_by=sales_manager,
        status=Status.DRAFT,
        order=SelectionSession.Order.FIRST_COME,
        units=[],
    )
    with pytest.raises(service.SessionRefused) as refused:
        service.session_open(actor=sales_manager, session=rush)
    assert refused.value.code == "entries"
    enter(rush, make_deposit(project=project, consultant=consultant))
    opened = service.session_open(actor=sales_manager, session=rush)
    assert opened.status == Status.OPEN and opened.opened_at is not None


def _fresh(session: SelectionSession) -> SelectionSession:
    """Forget events an earlier run left under the same topic (ids repeat)."""
    live.client().delete(live.recent_key(session.topic))
    return session


def _read_frames(topic: str, seconds: float = 1.5) -> list[tuple[str, dict]]:
    frames = []
    for chunk in live.stream(topic, last_id="0-0", seconds=seconds, heartbeat=5):
        for block in chunk.split("\n\n"):
            lines = dict(
                line.split(": ", 1) for line in block.splitlines() if ": " in line
            )
            if "event" in lines:
                frames.append((lines["event"], json.loads(lines["data"])))
    return frames


@pytest.mark.django_db(transaction=True)
def test_calling_skips_used_deposits_and_publishes_called_on_commit(
    opening, consultant, sales_manager
):
    project, _units = opening
    session = _fresh(make_session(project=project, created_by=sales_manager))
    first = enter(session, make_deposit(project=project, consultant=consultant))
    enter(session, make_deposit(project=project, consultant=consultant))
    third = enter(session, make_deposit(project=project, consultant=consultant))
    IntentDeposit.objects.filter(pk=session.entries.get(position=2).deposit_id).update(
        status=IntentDeposit.Status.REFUNDED
    )
    assert (
        service.session_call_next(actor=sales_manager, session=session).called_position
        == 1
    )
    assert (
        service.session_call_next(actor=sales_manager, session=session).called_position
        == 3
    )
    with pytest.raises(service.SessionRefused):
        service.session_call_next(actor=sales_manager, session=session)
    service.session_call(actor=sales_manager, session=session, position=first.position)
    with pytest.raises(service.SessionRefused):
        service.session_call(actor=sales_manager, session=session, position=99)
    called = [d["position"] for n, d in _read_frames(session.topic) if n == "called"]
    assert called == [1, third.position, 1]


def test_calling_is_refused_before_the_session_opens(opening, sales_manager):
    project, _units = opening
    session = make_session(
        project=project, created_by=sales_manager, status=Status.ORDERED
    )
    with pytest.raises(service.SessionRefused) as refused:
        service.session_call_next(actor=sales_manager, session=session)
    assert refused.value.code == "not_open"


@pytest.mark.django_db(transaction=True)
def test_closing_releases_unsold_units_and_queues_refunds_once_even_if_run_twice(
    opening, consultant, sales_manager
):
    project, units = opening
    session = _fresh(make_session(project=project, created_by=sales_manager))
    sold_entry = enter(session, make_deposit(project=project, consultant=consultant))
    waiting = [
        enter(session, make_deposit(project=project, consultant=consultant))
        for _ in range(2)
    ]
    selection_make(
        session=session,
        entry=sold_entry,
        unit=units[0],
        channel=ON_SITE,
        actor=consultant,
    )
    result = service.session_close(
        actor=sales_manager, session=session, deposits="refund"
    )
    again = service.session_close(
        actor=sales_manager, session=session, deposits="refund"
    )
    assert (result.released, result.refunds, result.moved) == (len(units) - 1, 2, 0)
    assert again.already_closed and again.refunds == 0
    refunds = DepositRefund.objects.order_by("deposit_id")
    assert [r.deposit_id for r in refunds] == [e.deposit_id for e in waiting]
    assert {(r.status, r.requested_by_id, r.amount) for r in refunds} == {
        ("pending", sales_manager.pk, Decimal("50000.00"))
    }
    session.refresh_from_db()
    assert session.status == Status.CLOSED and session.closed_at is not None
    # Back on normal sale: a consultant may reserve an unsold unit again.
    unit_reserve(
        actor=consultant, opportunity=_deal(consultant, project), unit=units[1]
    )
    frames = _read_frames(session.topic)
    released = [d["unit"] for n, d in frames if n == "released"]
    assert sorted(released) == sorted(u.pk for u in units[1:])
    assert [n for n, _d in frames].count("closed") == 1


def test_closing_moves_unused_deposits_to_the_next_session_once(
    opening, consultant, sales_manager
):
    project, units = opening
    session = make_session(project=project, created_by=sales_manager, units=units[:4])
    entries = [
        enter(session, make_deposit(project=project, consultant=consultant))
        for _ in range(3)
    ]
    selection_make(
        session=session,
        entry=entries[0],
        unit=units[0],
        channel=ON_SITE,
        actor=consultant,
    )
    following = make_session(
        project=project, created_by=sales_manager, status=Status.DRAFT, units=units[4:]
    )
    result = service.session_close(
        actor=sales_manager, session=session, deposits="move", next_session=following
    )
    service.session_close(
        actor=sales_manager, session=session, deposits="move", next_session=following
    )
    assert result.moved == 2 and result.refunds == 0
    moved = SessionEntry.objects.filter(session=following).order_by("deposit_id")
    assert [(e.deposit_id, e.position) for e in moved] == [
        (e.deposit_id, None) for e in entries[1:]
    ]
    assert not DepositRefund.objects.exists()


def test_closing_refuses_a_next_session_that_is_not_a_draft_of_the_project(
    opening, consultant, sales_manager
):
    project, units = opening
    session = make_session(project=project, created_by=sales_manager, units=units[:2])
    running = make_session(project=project, created_by=sales_manager, units=units[2:])
    with pytest.raises(service.SessionRefused) as refused:
        service.session_close(
            actor=sales_manager, session=session, deposits="move", next_session=running
        )
    assert refused.value.field == "next_session"
    session.refresh_from_db()
    assert session.status == Status.OPEN


def test_the_report_counts_sales_by_layout_building_consultant_channel_and_time(
    opening, consultant, other_consultant, sales_manager
):
    project, units = opening
    session = make_session(project=project, created_by=sales_manager)
    opened = timezone.now() - timedelta(minutes=30)
    session.opened_at = opened
    session.save()
    entries = [
        enter(session, make_deposit(project=project, consultant=consultant))
        for _ in range(3)
    ]
    service.session_call(actor=sales_manager, session=session, position=1)
    service.session_call(actor=sales_manager, session=session, position=2)
    picks = [
        (entries[0], units[0], consultant, ON_SITE),
        (entries[1], units[1], other_consultant, ON_SITE),
        (entries[2], units[2], None, Selection.Channel.ONLINE),
    ]
    for entry, unit, actor, channel in picks:
        selection_make(
            session=session, entry=entry, unit=unit, channel=channel, actor=actor
        )
    # Known times: called → chosen 60 s and 120 s on site; online 300 s from the slot.
    called = {1: opened, 2: opened + timedelta(minutes=5)}
    for row in AuditEntry.objects.filter(changes__has_key="called_position"):
        position = int(row.changes["called_position"]["new"])
        AuditEntry.objects.filter(pk=row.pk).update(created_at=called[position])
    slot = opened + timedelta(minutes=10)
    SessionEntry.objects.filter(pk=entries[2].pk).update(slot_starts_at=slot)
    at = {
        units[0].pk: opened + timedelta(seconds=60),
        units[1].pk: called[2] + timedelta(seconds=120),
        units[2].pk: slot + timedelta(seconds=300),
    }
    for unit_id, when in at.items():
        Selection.objects.filter(unit_id=unit_id).update(selected_at=when)

    report = service.session_report(session=session)
    prices = [Unit.objects.get(pk=u.pk).list_price for u in units[:3]]
    assert report.sold == 3 and report.offered == len(units)
    assert report.value == sum(prices)
    assert report.seconds_p50 == 120 and report.seconds_avg == 160
    channels = {row.label: row.count for row in report.by_channel}
    assert sorted(channels.values()) == [1, 2]
    consultants = {row.label: row.count for row in report.by_consultant}
    # The online buyer's deal belongs to the deposit's consultant.
    assert consultants == {consultant.display_name: 2, other_consultant.display_name: 1}
    assert sum(r.count for r in report.by_layout) == 3
    assert sum(r.value for r in report.by_building) == report.value
    assert sum(count for _start, count in report.per_ten_minutes) == 3
    assert all(
        (b - a) == timedelta(minutes=10)
        for (a, _), (b, _) in zip(
            report.per_ten_minutes, report.per_ten_minutes[1:], strict=False
        )
    )


def test_the_report_of_a_session_without_sales_is_empty(opening, sales_manager):
    project, _units = opening
    session = make_session(project=project, created_by=sales_manager)
    report = service.session_report(session=session)
    assert report.sold == 0 and report.seconds_p50 is None and report.by_layout == []


def test_the_called_buyers_card_masks_the_name_for_who_may_not_see_it(
    opening, consultant, other_consultant, sales_manager
):
    project, units = opening
    session = make_session(project=project, created_by=sales_manager)
    customer = CustomerFactory(name="王小明", assigned_consultant=consultant)
    entry = enter(
        session,
        make_deposit(project=project, consultant=consultant, customer=customer),
    )
    service.session_call(actor=sales_manager, session=session, position=entry.position)
    session.refresh_from_db()
    mine = service.called_buyer(session=session, viewer=consultant)
    theirs = service.called_buyer(session=session, viewer=other_consultant)
    assert mine.name == "王小明" and theirs.name == "王**"
    assert mine.units_left == 1
    selection_make(
        session=session, entry=entry, unit=units[0], channel=ON_SITE, actor=consultant
    )
    assert service.called_buyer(session=session, viewer=consultant).units_left == 0


def test_the_grid_takes_one_query_whatever_the_number_of_units(
    django_assert_num_queries, sales_manager
):
    project, _units = opening_project(floors=10, per_floor=4)
    session = make_session(project=project, created_by=sales_manager)
    with django_assert_num_queries(1):
        grid = service.session_grid(session=session)
    assert grid.total == 40 and grid.left == 40
    assert [floor for floor, _ in grid.buildings[0].rows][:2] == sorted(
        {u.floor for u in Unit.objects.all()}, reverse=True
    )[:2]
