from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone, translation

from crm_site.models import Notification
from customers.models import Interaction
from sales import services
from sales.models import Opportunity, StageChange, Unit, UnitHold
from tests.factories import CustomerFactory, make_building


@pytest.fixture
def building(db):
    return make_building()


@pytest.fixture
def deal(building, consultant, own_customer):
    return services.opportunity_open(
        actor=consultant, customer=own_customer, project=building.project
    )


def test_floor_numbers_skip_unlucky_floors():
    assert services.floor_numbers(floors=5, skipped=[4]) == [1, 2, 3, 5, 6]
    assert services.floor_numbers(floors=15, skipped=[4, 13, 14])[-4:] == [
        15,
        16,
        17,
        18,
    ]


def test_building_generation_makes_every_unit_with_floor_prices(building):
    units = list(building.units.order_by("floor", "position"))
    assert len(units) == 10
    assert sorted({u.floor for u in units}) == [1, 2, 3, 5, 6]
    assert [u.number for u in units[:2]] == ["101", "102"]
    first, top = units[0], units[-1]
    assert first.list_price == Decimal("3000000")
    assert top.list_price == Decimal("3040000")  # four levels up, 100 per m² each


def test_building_generation_refuses_a_template_that_does_not_match(db, consultant):
    from sales.models import Project

    project = Project.objects.create(name="测试")
    with pytest.raises(ValidationError):
        services.building_generate(
            actor=consultant,
            project=project,
            name="1",
            floors=2,
            units_per_floor=2,
            skipped_floors=[],
            layouts=["a"],
            gross_areas=[Decimal(90)],
            base_price=Decimal(1),
            floor_increment=Decimal(0),
        )
    assert not project.buildings.exists() and not Unit.objects.exists()


def test_opening_a_deal_twice_returns_the_open_one(deal, consultant, own_customer):
    again = services.opportunity_open(
        actor=consultant, customer=own_customer, project=deal.project
    )
    assert again == deal
    assert Interaction.objects.filter(customer=own_customer, kind="system").count() == 1


ILLEGAL = [
    ("new", "subscribed"),
    ("new", "contracted"),
    ("new", "paid"),
    ("contacted", "subscribed"),
    ("visited", "contracted"),
    ("reserved", "contracted"),
    ("subscribed", "paid"),
    ("subscribed", "visited"),
    ("contracted", "lost"),
    ("contracted", "visited"),
    ("paid", "lost"),
    ("lost", "new"),
    ("lost", "visited"),
]


@pytest.mark.parametrize(("start", "target"), ILLEGAL)
def test_stage_machine_refuses_every_illegal_move(deal, consultant, start, target):
    Opportunity.objects.filter(pk=deal.pk).update(stage=start)
    deal.refresh_from_db()
    with pytest.raises(ValidationError):
        deal.move_to(target, actor=consultant, reason="price")
    deal.refresh_from_db()
    assert deal.stage == start
    assert not StageChange.objects.exists()


def test_every_legal_move_is_allowed_and_recorded_on_the_timeline(deal, consultant):
    for target in ["contacted", "visited"]:
        assert deal.move_to(target, actor=consultant)
    assert deal.move_to("visited", actor=consultant) is False  # repeating does nothing
    assert StageChange.objects.filter(opportunity=deal).count() == 2
    timeline = Interaction.objects.filter(
        customer=deal.customer, kind="system"
    ).order_by("-id")
    last = timeline.first()
    assert last.event == "sales.deal_stage" and last.summary == ""
    assert last.params == {
        "project": deal.project.name,
        "old": "contacted",
        "new": "visited",
    }
    with translation.override("en"):
        assert last.text == f"Deal {deal.project.name}: Contacted → Visited"


def test_lost_needs_a_reason(deal, consultant):
    with pytest.raises(ValidationError):
        deal.move_to("lost", actor=consultant)
    deal.move_to("lost", actor=consultant, reason="competitor", note="买了隔壁盘")
    assert deal.lost_reason == "competitor"


def test_reserve_holds_the_unit_until_the_deadline(deal, building, consultant):
    unit = building.units.first()
    hold = services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    unit.refresh_from_db()
    deal.refresh_from_db()
    assert unit.status == "reserved" and deal.stage == "reserved" and deal.unit == unit
    assert hold.held_until > timezone.now() + timedelta(days=2)


def test_reserve_refuses_a_unit_already_held(
    deal, building, consultant, other_consultant
):
    unit = building.units.first()
    services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    rival = services.opportunity_open(
        actor=other_consultant, customer=CustomerFactory(), project=building.project
    )
    with pytest.raises(services.UnitUnavailable):
        services.unit_reserve(actor=other_consultant, opportunity=rival, unit=unit)
    rival.refresh_from_db()
    assert rival.unit is None and rival.stage == "new"


@pytest.mark.django_db(transaction=True)
def test_twenty_consultants_reserving_one_unit_at_once_give_exactly_one_success(
    consultant,
):
    building = make_building(floors=1, per_floor=1)
    unit = building.units.get()
    deals = [
        services.opportunity_open(
            actor=consultant, customer=CustomerFactory(), project=building.project
        )
        for _ in range(20)
    ]
    barrier = threading.Barrier(20)
    outcomes: list[str] = []

    def attempt(deal):
        try:
            barrier.wait()
            services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
            outcomes.append("held")
        except services.UnitUnavailable:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(d,)) for d in deals]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("held") == 1 and outcomes.count("refused") == 19
    assert UnitHold.objects.filter(unit=unit, status="active").count() == 1
    assert Opportunity.objects.filter(unit=unit).count() == 1


def test_expired_holds_are_released_once_and_the_consultant_is_told(
    deal, building, consultant
):
    unit = building.units.first()
    hold = services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    UnitHold.objects.filter(pk=hold.pk).update(
        held_until=timezone.now() - timedelta(minutes=1)
    )
    assert services.holds_expire() == 1
    unit.refresh_from_db()
    deal.refresh_from_db()
    assert unit.status == "available" and deal.unit is None and deal.stage == "visited"
    assert Notification.objects.filter(user=consultant).count() == 1
    # The second run finds nothing to do.
    assert services.holds_expire() == 0
    assert Notification.objects.count() == 1
    assert StageChange.objects.filter(opportunity=deal).count() == 2


def test_a_hold_past_its_deadline_is_over_for_a_colleague_before_the_sweep(
    deal, building, consultant, other_consultant
):
    unit = building.units.first()
    hold = services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    UnitHold.objects.filter(pk=hold.pk).update(
        held_until=timezone.now() - timedelta(minutes=1)
    )
    rival = services.opportunity_open(
        actor=other_consultant, customer=CustomerFactory(), project=building.project
    )
    services.unit_reserve(actor=other_consultant, opportunity=rival, unit=unit)
    hold.refresh_from_db()
    deal.refresh_from_db()
    rival.refresh_from_db()
    # Ended as the sweep ends it: expired, the deal back to visited, its
    # consultant told; the unit is the colleague's.
    assert (hold.status, deal.unit, deal.stage) == ("expired", None, "visited")
    assert (rival.unit, rival.stage) == (unit, "reserved")
    assert StageChange.objects.filter(
        opportunity=deal, event="sales.hold_expired"
    ).exists()
    assert Notification.objects.filter(user=consultant).count() == 1
    assert services.holds_expire() == 0


def test_subscribing_a_hold_past_its_deadline_is_refused_and_saves_nothing(
    deal, building, consultant
):
    unit = building.units.first()
    hold = services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    UnitHold.objects.filter(pk=hold.pk).update(
        held_until=timezone.now() - timedelta(minutes=1)
    )
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        services.unit_subscribe(actor=consultant, opportunity=deal)
    assert f"The hold on unit {unit.number} ended at" in refused.value.messages[0]
    deal.refresh_from_db()
    unit.refresh_from_db()
    assert (deal.stage, unit.status) == ("reserved", "reserved")
    # Held again (the old hold ends as expired), the subscription goes through.
    services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    # The consultant holding it again, as told, hears no "hold expired".
    assert not Notification.objects.filter(user=consultant).exists()
    services.unit_subscribe(actor=consultant, opportunity=deal)
    assert list(
        UnitHold.objects.filter(unit=unit)
        .order_by("pk")
        .values_list("status", flat=True)
    ) == ["expired", "converted"]


def test_holds_not_yet_due_are_kept(deal, building, consultant):
    services.unit_reserve(
        actor=consultant, opportunity=deal, unit=building.units.first()
    )
    assert services.holds_expire() == 0
    assert UnitHold.objects.get().status == "active"


def test_subscribe_converts_the_hold_and_makes_the_customer_a_buyer(
    deal, building, consultant
):
    unit = building.units.first()
    services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    services.unit_subscribe(actor=consultant, opportunity=deal)
    unit.refresh_from_db()
    deal.refresh_from_db()
    deal.customer.refresh_from_db()
    assert unit.status == "subscribed" and deal.stage == "subscribed"
    assert deal.agreed_price == unit.list_price
    assert deal.customer.stage == "buyer"
    assert UnitHold.objects.get().status == "converted"
    assert services.holds_expire() == 0


def test_holds_expire_task_body_runs_the_service(deal, building, consultant):
    from sales.tasks import holds_expire

    hold = services.unit_reserve(
        actor=consultant, opportunity=deal, unit=building.units.first()
    )
    UnitHold.objects.filter(pk=hold.pk).update(
        held_until=timezone.now() - timedelta(seconds=1)
    )
    assert holds_expire() == 1
    assert holds_expire() == 0
