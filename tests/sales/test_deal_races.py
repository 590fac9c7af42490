"""Two people on one deal at once, against real PostgreSQL: one open deal per customer
and project, and one lock order (deal, unit, hold; deal, then its plan's lines), so
that one of them wins cleanly and nobody gets a deadlock error (a 500)."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from sales import services
from sales.models import DealChange, Opportunity, PaymentItem, Unit, UnitHold
from tests.factories import CustomerFactory, make_building

pytestmark = pytest.mark.django_db(transaction=True)

ROUNDS = 5


def _race(*actions) -> list[BaseException]:
    """Run the actions in threads released at once; what a user would see as a 500
    (anything but a refusal) is returned."""
    barrier = threading.Barrier(len(actions))
    errors: list[BaseException] = []

    def run(action):
        try:
            barrier.wait()
            action()
        except (services.UnitUnavailable, ValidationError):
            pass
        except BaseException as exc:  # noqa: BLE001 - a 500 for the user
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def _held_deal(consultant, building, unit):
    deal = services.opportunity_open(
        actor=consultant, customer=CustomerFactory(), project=building.project
    )
    hold = services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    return deal, hold


def test_opening_a_deal_twice_at_once_gives_one_open_deal(consultant, sales_manager):
    building = make_building(floors=1, per_floor=1)
    for _ in range(ROUNDS):
        customer = CustomerFactory(assigned_consultant=consultant)

        def open_deal(actor, customer=customer):
            services.opportunity_open(
                actor=actor, customer=customer, project=building.project
            )

        errors = _race(lambda: open_deal(consultant), lambda: open_deal(sales_manager))
        assert not errors, [repr(e) for e in errors]
        deals = Opportunity.objects.filter(customer=customer).open()
        assert deals.count() == 1


def test_subscribing_while_the_hold_is_released_never_deadlocks(consultant):
    building = make_building(floors=ROUNDS, per_floor=1, skipped=())
    for unit in building.units.order_by("pk"):
        deal, hold = _held_deal(consultant, building, unit)
        errors = _race(
            lambda deal=deal: services.unit_subscribe(
                actor=consultant, opportunity=deal
            ),
            lambda hold=hold: services.unit_release(
                actor=consultant, hold=hold, expired=False
            ),
        )
        assert not errors, [repr(e) for e in errors]
        deal.refresh_from_db()
        unit.refresh_from_db()
        # Either the subscription won (the hold converted) or the release did.
        assert (deal.stage, unit.status) in {
            ("subscribed", "subscribed"),
            ("visited", "available"),
        }
        assert not UnitHold.objects.filter(unit=unit, status="active").exists()


def test_subscribing_while_the_expiry_runs_never_deadlocks(consultant):
    building = make_building(floors=ROUNDS, per_floor=1, skipped=())
    for unit in building.units.order_by("pk"):
        deal, hold = _held_deal(consultant, building, unit)
        UnitHold.objects.filter(pk=hold.pk).update(
            held_until=timezone.now() - timedelta(minutes=1)
        )
        errors = _race(
            lambda deal=deal: services.unit_subscribe(
                actor=consultant, opportunity=deal
            ),
            services.holds_expire,
        )
        assert not errors, [repr(e) for e in errors]
        assert not UnitHold.objects.filter(unit=unit, status="active").exists()


def test_two_expiry_runs_at_once_release_each_hold_once(consultant):
    building = make_building(floors=ROUNDS, per_floor=2, skipped=())
    holds = [
        _held_deal(consultant, building, unit)[1]
        for unit in building.units.order_by("pk")
    ]
    UnitHold.objects.filter(pk__in=[h.pk for h in holds]).update(
        held_until=timezone.now() - timedelta(minutes=1)
    )
    released: list[int] = []
    errors = _race(
        lambda: released.append(services.holds_expire(limit=3)),
        lambda: released.append(services.holds_expire(limit=3)),
    )
    assert not errors, [repr(e) for e in errors]
    assert sum(released) == len(holds)
    assert UnitHold.objects.filter(status="expired").count() == len(holds)
    assert not Unit.objects.filter(building=building, status="reserved").exists()


def test_a_receipt_while_a_change_of_unit_is_approved_never_deadlocks(
    consultant, sales_manager
):
    """The approval re-cuts the plan's lines under the deal's lock; a receipt takes
    the deal's lock before its line's."""
    building = make_building(floors=2 * ROUNDS, per_floor=1, skipped=())
    units = list(building.units.order_by("pk"))
    for old, new in zip(units[::2], units[1::2], strict=True):
        deal, _hold = _held_deal(consultant, building, old)
        services.unit_subscribe(actor=consultant, opportunity=deal)
        services.payment_plan_create(
            actor=consultant, opportunity=deal, scheme="full", deposit=Decimal("50000")
        )
        item = PaymentItem.objects.get(opportunity=deal, sequence=2)
        change = services.deal_change_request(
            actor=consultant,
            opportunity=deal,
            kind="change_unit",
            reason="换高层",
            new_unit=new,
        )
        errors = _race(
            lambda item=item: services.receipt_record(
                actor=consultant,
                item=item,
                amount=Decimal("1000"),
                received_on=timezone.localdate(),
                method="transfer",
            ),
            lambda change=change: services.deal_change_decide(
                actor=sales_manager, change=change, approve=True
            ),
        )
        assert not errors, [repr(e) for e in errors]
        assert DealChange.objects.get(pk=change.pk).status == "approved"
        item.refresh_from_db()
        assert item.received == Decimal("1000")
