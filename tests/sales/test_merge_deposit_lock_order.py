"""A deposit taken while its customer is merged: refused or done, never a deadlock."""

from __future__ import annotations

import threading
import time

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from customers.services.merge import MergeRefused, customer_merge
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
