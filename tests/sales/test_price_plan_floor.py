"""A price adjustment moves the floor price with the list price, and locks its units
as every other locker of several units does (sales.services.inventory)."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import OperationalError, connection
from django.utils import timezone

from sales import services
from sales.models import PriceChange, SelectionSession, SessionUnit, Unit
from sales.pricing import quote
from sales.services import sessions
from tests.factories import make_building


@pytest.fixture
def building(db):
    # make_building: 100 m², 30,000 yuan/m² on the first floor, floor price 95 %.
    return make_building(floors=2, per_floor=2, skipped=())


def _apply(actor, building, mode: str, value: str, **criteria) -> int:
    return services.price_plan_apply(
        actor=actor,
        building=building,
        reason="年底促销",
        mode=mode,
        value=Decimal(value),
        **criteria,
    )


@pytest.mark.django_db
def test_a_price_cut_moves_the_floor_price_by_the_same_percentage(
    building, sales_manager
):
    unit = building.units.get(floor=1, position=1)
    assert (unit.list_price, unit.floor_price) == (
        Decimal("3000000"),
        Decimal("2850000"),
    )
    assert _apply(sales_manager, building, "percent", "-10") == 4
    unit.refresh_from_db()
    assert (unit.list_price, unit.floor_price) == (
        Decimal("2700000"),
        Decimal("2565000"),
    )
    assert not quote(unit=unit).below_floor
    # The list price's history is kept as before.
    change = PriceChange.objects.get(unit=unit)
    assert (change.old_price, change.new_price) == (
        Decimal("3000000"),
        Decimal("2700000"),
    )


@pytest.mark.django_db
def test_a_per_m2_cut_moves_the_floor_price_by_the_same_amount(building, sales_manager):
    _apply(sales_manager, building, "per_m2", "-1000", floor_from=2)
    top = building.units.get(floor=2, position=1)
    assert (top.list_price, top.floor_price) == (Decimal("2910000"), Decimal("2759500"))
    # Units outside the plan keep both prices.
    low = building.units.get(floor=1, position=1)
    assert (low.list_price, low.floor_price) == (Decimal("3000000"), Decimal("2850000"))


@pytest.mark.django_db
def test_the_preview_shows_the_floor_price_and_changes_nothing(building):
    Unit.objects.filter(building=building, floor=1, position=2).update(floor_price=None)
    preview = services.price_plan_preview(
        building=building, mode="percent", value=Decimal("2"), floor_to=1
    )
    assert [
        (r.unit.position, r.old_floor_price, r.new_floor_price) for r in preview
    ] == [(1, Decimal("2850000"), Decimal("2907000")), (2, None, None)]
    assert building.units.get(floor=1, position=1).floor_price == Decimal("2850000")


@pytest.mark.django_db
def test_a_unit_without_a_floor_price_keeps_none(building, sales_manager):
    Unit.objects.filter(building=building).update(floor_price=None)
    _apply(sales_manager, building, "percent", "5")
    assert set(building.units.values_list("floor_price", flat=True)) == {None}


@pytest.mark.django_db
def test_a_cut_that_would_make_a_floor_price_free_is_refused_whole(
    building, sales_manager
):
    # 3,000,000 − 28,600 × 100 m² leaves the list price 140,000 but the floor −10,000.
    with pytest.raises(ValidationError):
        _apply(sales_manager, building, "per_m2", "-28600", floor_to=1)
    assert not PriceChange.objects.exists()
    unit = building.units.get(floor=1, position=1)
    assert (unit.list_price, unit.floor_price) == (
        Decimal("3000000"),
        Decimal("2850000"),
    )


ROUNDS = 30


@pytest.mark.django_db(transaction=True)
def test_a_price_adjustment_and_a_new_selection_session_at_once_do_not_deadlock(
    sales_manager,
):
    """Both lock every available unit of the building, in id order: one waits for
    the other, neither dies of a deadlock (a 500)."""
    building = make_building(floors=30, per_floor=6, skipped=())
    errors: list[BaseException] = []

    def plan(barrier: threading.Barrier) -> None:
        try:
            barrier.wait()
            _apply(sales_manager, building, "percent", "1")
        except OperationalError as exc:
            errors.append(exc)
        finally:
            connection.close()

    def session(barrier: threading.Barrier, name: str) -> None:
        try:
            barrier.wait()
            sessions.session_create(
                actor=sales_manager,
                project=building.project,
                name=name,
                starts_at=timezone.now() + timedelta(days=1),
                mode="on_site",
                order="queue",
                buildings=[building],
            )
        except OperationalError as exc:
            errors.append(exc)
        finally:
            connection.close()

    for round_ in range(ROUNDS):
        barrier = threading.Barrier(2)
        threads = [
            threading.Thread(target=plan, args=(barrier,)),
            threading.Thread(target=session, args=(barrier, f"开盘{round_}")),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # The next round offers the units again.
        SessionUnit.objects.all().delete()
        SelectionSession.objects.all().delete()
    assert not errors, errors
