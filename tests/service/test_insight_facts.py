"""Service's fact tables (service.insight): a request's cost, hours, satisfaction and
repeat flag from known work orders, chargebacks and surveys; triggers bring changes
in at the next refresh; a rebuild gives the same rows."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from crm_site import insight
from crm_site.models import FactDirty
from service import services, services_work, surveys
from service.models import RequestFact, WorkOrder, WorkOrderFact
from tests.insight_fixtures import facts_refreshed

pytestmark = pytest.mark.django_db

REQUESTS = "service.requests"
WORK_ORDERS = "service.work_orders"


def _work(agent, request, cost: str, contractor=None) -> WorkOrder:
    if contractor is not None:
        return services_work.work_order_create(
            actor=agent,
            request=request,
            task="更换水管",
            assignee_kind="contractor",
            contractor=contractor,
            appointment_at=timezone.now(),
            cost=Decimal(cost),
        )
    return services_work.work_order_create(
        actor=agent,
        request=request,
        task="检查",
        assignee_kind="department",
        department="engineering",
        appointment_at=timezone.now(),
        cost=Decimal(cost),
    )


def _answer(request, score: int):
    invitation = request.survey_invitation
    questions = surveys.questions_of(invitation)
    return surveys.survey_submit(
        invitation=invitation, scores={q.pk: score for q in questions}, comment=""
    )


@pytest.fixture
def history(make_request, units, contractor, service_agent, service_manager):
    """A unit's leak fixed twice in 40 days (the second a repeat), with work orders,
    a chargeback and a survey; other requests around it that are not repeats."""
    first = make_request(unit=units[0], category="plumbing", days_ago=40)
    leak = make_request(unit=units[0], category="plumbing", days_ago=10)
    other = make_request(unit=units[0], category="electrical", days_ago=5)
    old = make_request(unit=units[1], category="plumbing", days_ago=200)
    later = make_request(unit=units[1], category="plumbing", days_ago=50)
    fresh = make_request(unit=units[2], category="plumbing")
    fixed = _work(service_agent, leak, "300.00", contractor)
    checked = _work(service_agent, leak, "200.00")
    dropped = _work(service_agent, leak, "1000.00", contractor)
    services_work.work_order_cancel(
        actor=service_agent, work_order=dropped, reason="重复派单"
    )
    fixed = services_work.work_order_sign_off(
        actor=service_agent, work_order=fixed, note="好"
    )
    services_work.work_order_sign_off(
        actor=service_agent, work_order=checked, note="好"
    )
    services_work.chargeback_create(
        actor=service_manager,
        work_order=fixed,
        request=leak,
        amount=Decimal("120.00"),
        reason="返工",
    )
    services.request_start(actor=service_agent, request=leak)
    services.request_resolve(actor=service_agent, request=leak, note="已修复")
    services.request_callback(
        actor=service_agent, request=leak, satisfied=True, note="满意"
    )
    services.request_close(actor=service_agent, request=leak)
    leak.refresh_from_db()
    _answer(leak, 4)
    return {
        "first": first,
        "leak": leak,
        "other": other,
        "old": old,
        "later": later,
        "fresh": fresh,
        "fixed": fixed,
        "checked": checked,
        "dropped": dropped,
    }


def _fact(request) -> RequestFact:
    return RequestFact.objects.get(request_id=request.pk)


def test_a_request_fact_holds_its_cost_hours_satisfaction_and_repeat(
    history, units, contractor
):
    facts_refreshed(REQUESTS, WORK_ORDERS)
    leak = history["leak"]
    fact = _fact(leak)
    assert fact.cost == Decimal("500.00")  # the cancelled work order costs nothing
    assert fact.chargebacks == Decimal("120.00")
    assert fact.net_cost == Decimal("380.00")
    assert fact.work_orders == 2
    assert fact.contractor_id == contractor.pk
    assert fact.department == leak.department
    assert fact.satisfaction == Decimal("75.00") and fact.answered
    assert fact.repeat is True
    assert fact.status == "closed" and fact.closed_on == timezone.localdate()
    expected = (leak.closed_at - leak.received_at).total_seconds() / 3600
    assert abs(float(fact.hours_to_close) - expected) <= 0.05
    assert fact.overdue is True  # resolved days after its 72 hours
    assert fact.unit_id == units[0].pk
    assert fact.building_id == units[0].building_id
    assert fact.project_id == units[0].building.project_id
    month = timezone.localtime(leak.received_at).date().replace(day=1)
    assert fact.opened_month == month


def test_repeats_are_the_same_unit_and_category_within_90_days(history):
    facts_refreshed(REQUESTS)
    repeat = dict(RequestFact.objects.values_list("request_id", "repeat"))
    assert repeat[history["first"].pk] is False
    assert repeat[history["leak"].pk] is True
    assert repeat[history["other"].pk] is False  # another category
    assert repeat[history["old"].pk] is False
    assert repeat[history["later"].pk] is False  # 150 days after the one before
    assert repeat[history["fresh"].pk] is False


def test_open_requests_past_their_deadline_are_overdue(history):
    facts_refreshed(REQUESTS)
    assert _fact(history["other"]).overdue is True
    assert _fact(history["fresh"]).overdue is False
    fresh = _fact(history["fresh"])
    assert fresh.hours_to_close is None and fresh.cost == 0 and not fresh.answered


def test_work_order_facts_hold_cost_chargebacks_and_the_request_survey(
    history, contractor
):
    facts_refreshed(WORK_ORDERS)
    rows = {f.work_order_id: f for f in WorkOrderFact.objects.all()}
    assert history["dropped"].pk not in rows
    fixed = rows[history["fixed"].pk]
    assert (fixed.contractor_id, fixed.cost, fixed.chargebacks) == (
        contractor.pk,
        Decimal("300.00"),
        Decimal("120.00"),
    )
    assert fixed.satisfaction == Decimal("75.00") and fixed.answered
    assert fixed.status == "done" and fixed.on_time is False  # due 7 days ago
    checked = rows[history["checked"].pk]
    assert checked.contractor_id is None and checked.department == "engineering"
    assert checked.cost == Decimal("200.00") and checked.chargebacks == 0


def test_a_changed_work_order_cost_reaches_both_facts_after_the_refresh(history):
    facts_refreshed(REQUESTS, WORK_ORDERS)
    checked = history["checked"]
    WorkOrder.objects.filter(pk=checked.pk).update(cost=Decimal("260.00"))
    assert FactDirty.objects.filter(fact=REQUESTS, key=history["leak"].pk).exists()
    facts_refreshed(REQUESTS, WORK_ORDERS)
    assert _fact(history["leak"]).cost == Decimal("560.00")
    assert WorkOrderFact.objects.get(work_order_id=checked.pk).cost == Decimal("260.00")


def test_a_new_earlier_request_makes_a_later_one_a_repeat(history, make_request, units):
    facts_refreshed(REQUESTS)
    assert _fact(history["later"]).repeat is False
    # Recorded now, dated 80 days ago (30 days before "later"): the trigger marks the
    # unit's requests of that category received in the 90 days after it.
    make_request(unit=units[1], category="plumbing", days_ago=80)
    facts_refreshed(REQUESTS)
    assert _fact(history["later"]).repeat is True


def test_a_survey_answered_after_the_refresh_reaches_the_request(
    make_request, service_agent
):
    from tests.service.conftest import closed_request

    request = closed_request(service_agent, make_request().customer)
    facts_refreshed(REQUESTS)
    assert _fact(request).answered is False
    _answer(request, 5)
    facts_refreshed(REQUESTS)
    assert _fact(request).satisfaction == Decimal("100.00")


def test_refreshing_twice_and_rebuilding_give_the_same_rows(history):
    facts_refreshed(REQUESTS, WORK_ORDERS)
    requests = list(RequestFact.objects.order_by("request_id").values())
    work = list(WorkOrderFact.objects.order_by("work_order_id").values())
    FactDirty.objects.bulk_create(
        [FactDirty(fact=REQUESTS, key=row["request_id"]) for row in requests]
    )
    facts_refreshed(REQUESTS, WORK_ORDERS)
    assert list(RequestFact.objects.order_by("request_id").values()) == requests
    insight.rebuild(only=[REQUESTS, WORK_ORDERS])
    assert list(RequestFact.objects.order_by("request_id").values()) == requests
    assert list(WorkOrderFact.objects.order_by("work_order_id").values()) == work


def test_a_unit_moved_to_another_building_moves_its_facts(history, units):
    from sales.models import Unit
    from tests.factories import make_building

    facts_refreshed(REQUESTS, WORK_ORDERS)
    other = make_building(project_name="安居·云栖府", floors=1, per_floor=1, skipped=())
    other.units.all().delete()  # an empty building to move the unit into
    Unit.objects.filter(pk=units[0].pk).update(building=other)
    facts_refreshed(REQUESTS, WORK_ORDERS)
    assert _fact(history["leak"]).building_id == other.pk
    assert _fact(history["leak"]).project_id == other.project_id
    fixed = WorkOrderFact.objects.get(work_order_id=history["fixed"].pk)
    assert fixed.building_id == other.pk


@pytest.mark.parametrize(
    ("source_key", "measure", "dims"),
    [
        ("service.requests", "requests", ["month", "category"]),
        ("service.requests", "cost", ["unit", "repeat"]),
        ("service.requests", "satisfaction", ["contractor"]),
        ("service.work_orders", "cost", ["contractor", "status"]),
    ],
)
def test_every_explorer_cell_equals_its_rows(
    history, service_manager, source_key, measure, dims
):
    facts_refreshed(REQUESTS, WORK_ORDERS)
    source = insight.source_named(source_key)
    table = insight.pivot(
        service_manager,
        source,
        source.measure(measure),
        [source.dimension(d) for d in dims],
    )
    assert table.cells
    for (row, column), value in table.cells.items():
        rows = source.rows_for(service_manager, table.cell_filters(row, column))
        assert rows.aggregate(v=source.measure(measure).expression())["v"] == value


def test_a_request_whose_deadline_just_passed_becomes_overdue_after_the_sweep(
    make_request,
):
    import time
    from datetime import timedelta

    from service import tasks
    from service.insight import deadlines_passed_mark
    from service.models import ServiceRequest

    request = make_request()
    due = timezone.now() + timedelta(seconds=2)
    ServiceRequest.objects.filter(pk=request.pk).update(
        response_due=due, resolution_due=due
    )
    facts_refreshed(REQUESTS)
    assert _fact(request).overdue is False
    time.sleep(2.2)
    # Becoming late changes no row: nothing is marked until the sweep looks.
    assert not FactDirty.objects.filter(fact=REQUESTS, key=request.pk).exists()
    tasks.escalations_sweep.run()
    assert FactDirty.objects.filter(fact=REQUESTS, key=request.pk).exists()
    facts_refreshed(REQUESTS)
    assert _fact(request).overdue is True
    # Deadlines that passed long ago are not marked again and again.
    assert deadlines_passed_mark(now=timezone.now() + timedelta(days=2)) == 0
