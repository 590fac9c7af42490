"""A deposit taken, or a deal subscribed, while its customer is merged: refused or
done, never a deadlock."""

from __future__ import annotations

import threading
import time

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import translation

from customers.models import Customer
from customers.services import merge as merge_module
from customers.services.merge import MergeRefused, customer_merge
from sales import services
from sales.models import Opportunity
from sales.services import deals as deal_services
from sales.services import deposits as deposit_services
from tests.factories import CustomerFactory, make_building
from tests.opening_fixtures import make_deposit

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_deposit_taken_while_the_customer_is_merged_never_deadlocks(
    consultant, administrator
):
    # deposit_take locks the project, then (new: opportunity_open) the customer;
    # a merge locks both customers, then (new: sales.merge_handlers._deposits) the
    # project of their deposits. Both at once: a circle PostgreSQL breaks with a
    # deadlock error, a 500 for one of the two users.
    project = make_building(floors=1, per_floor=2, skipped=()).project
    survivor = CustomerFactory(name="王五", assigned_consultant=consultant)
    absorbed = CustomerFactory(name="王五", assigned_consultant=consultant)
    make_deposit(project=project, consultant=consultant, customer=survivor)

    project_locked = threading.Event()
    real_check = deposit_services.protected_by_another
    errors: list[BaseException] = []

    def slow_check(**kwargs):
        result = real_check(**kwargs)
        project_locked.set()  # the project row is locked by now
        time.sleep(1.5)  # the merge locks both customers meanwhile
        return result

    def take():
        try:
            deposit_services.deposit_take(
                actor=consultant,
                project=project,
                customer=absorbed,
                receipt_number="R-X1-1",
                method="transfer",
            )
        except ValidationError:
            pass
        except BaseException as exc:  # noqa: BLE001 - a 500 for the user
            errors.append(exc)
        finally:
            connection.close()

    def merge():
        try:
            project_locked.wait(10)
            customer_merge(
                actor=administrator, survivor=survivor, absorbed=absorbed, choices={}
            )
        except (MergeRefused, ValidationError):
            pass
        except BaseException as exc:  # noqa: BLE001 - a 500 for the user
            errors.append(exc)
        finally:
            connection.close()

    deposit_services.protected_by_another = slow_check
    try:
        threads = [threading.Thread(target=take), threading.Thread(target=merge)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        deposit_services.protected_by_another = real_check
    assert not errors, [repr(e) for e in errors]


def test_merging_a_buyer_while_their_deal_is_subscribed_never_deadlocks(
    consultant, sales_manager, monkeypatch
):
    # unit_subscribe locks the deal and its unit, then the buyer's customer row
    # (customer_stage_follow_deals); a merge locks both customers, then moves the
    # absorbed's deals. Both at once: the merge is refused at once (NOWAIT on the
    # deals), the subscription goes through.
    customer = CustomerFactory(assigned_consultant=consultant, stage="buyer")
    survivor = CustomerFactory(assigned_consultant=consultant)
    building = make_building()
    deal = services.opportunity_open(
        actor=consultant, customer=customer, project=building.project
    )
    services.unit_reserve(
        actor=consultant, opportunity=deal, unit=building.units.order_by("pk").first()
    )
    real_follow = deal_services.customer_stage_follow_deals
    real_lock = merge_module._lock_pair
    subscribing = threading.Event()
    merge_locked = threading.Event()

    def follow_once_the_merge_holds_the_customers(**kwargs):
        subscribing.set()  # the deal and its unit are locked by now
        merge_locked.wait(20)
        time.sleep(0.5)  # the merge reaches the deals meanwhile
        return real_follow(**kwargs)

    def lock_pair(first, second):
        subscribing.wait(20)
        rows = real_lock(first, second)
        merge_locked.set()
        return rows

    monkeypatch.setattr(
        deal_services,
        "customer_stage_follow_deals",
        follow_once_the_merge_holds_the_customers,
    )
    monkeypatch.setattr(merge_module, "_lock_pair", lock_pair)
    errors: list[str] = []
    refused: list[str] = []

    def run(action):
        try:
            with translation.override("en"):
                action()
        except MergeRefused as exc:
            refused.append(str(exc))
        except BaseException as exc:  # noqa: BLE001 - a 500 for the user
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [
        threading.Thread(
            target=run,
            args=(lambda: services.unit_subscribe(actor=consultant, opportunity=deal),),
        ),
        threading.Thread(
            target=run,
            args=(
                lambda: customer_merge(
                    actor=sales_manager,
                    survivor=survivor,
                    absorbed=customer,
                    choices={},
                ),
            ),
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert Opportunity.objects.get(pk=deal.pk).stage == Opportunity.Stage.SUBSCRIBED
    merged = Customer.objects.get(pk=customer.pk).merged_into_id == survivor.pk
    assert merged or refused == [
        "A deal of one of these records is being changed right now; try the merge "
        "again in a moment."
    ]
