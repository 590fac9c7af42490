"""A pool claim while a manager registers the same customer to the claimant: no deadlock."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from sales.models import Project
from sales.services import ownership
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_claim_while_a_manager_registers_the_same_customer_to_the_claimant_never_deadlocks(
    team, consultant, sales_manager, monkeypatch
):
    # pool_claim now locks the claimant's user row FOR UPDATE, then the customer.
    # A manager handing the same pool customer to that consultant locks the customer,
    # then writes rows pointing at the consultant: the foreign-key check takes FOR KEY
    # SHARE on the user row, which FOR UPDATE blocks (FOR NO KEY UPDATE would not).
    project = Project.objects.create(name="安居·御景湾")
    project.teams.add(team)
    other = Project.objects.create(name="安居·滨江府")
    other.teams.add(team)
    customer = CustomerFactory(assigned_consultant=None)
    real_register = ownership._register
    customer_locked = threading.Event()

    def slow_register(*args, **kwargs):
        if threading.current_thread().name == "manager":
            customer_locked.set()
            time.sleep(1.5)
        return real_register(*args, **kwargs)

    monkeypatch.setattr(ownership, "_register", slow_register)
    errors: list[BaseException] = []

    def manager():
        try:
            ownership.registration_create(
                actor=sales_manager,
                customer=customer,
                project=other,
                consultant=consultant,
                basis="reassign",
                reason="到访",
            )
        except (ownership.ClaimRefused, ownership.RegistrationRefused):
            pass
        except BaseException as exc:  # noqa: BLE001 - a 500 for the user
            errors.append(exc)
        finally:
            connection.close()

    def claim():
        try:
            customer_locked.wait(10)
            ownership.pool_claim(actor=consultant, customer=customer, project=project)
        except (ownership.ClaimRefused, ownership.RegistrationRefused):
            pass
        except BaseException as exc:  # noqa: BLE001 - a 500 for the user
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=manager, name="manager"),
        threading.Thread(target=claim, name="claim"),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, [repr(e) for e in errors]
