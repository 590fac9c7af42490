"""The portal's daily cap on an owner's requests (service.portal_requests.
REQUESTS_PER_DAY) holds when two requests are submitted at once: the owner's row is
locked before the day's requests are counted, as for the GM letters
(service.mailbox.letter_write)."""

from __future__ import annotations

import contextlib
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from service import portal_requests, services
from service.models import ServiceRequest
from tests.service.test_portal_requests import home, household, submit  # noqa: F401

# Both submissions wait here once counted: long enough for the other to count too
# when nothing keeps them apart, short enough not to hold the test when something
# does (the other then waits on the lock, not here).
MEET_SECONDS = 2.0


@pytest.mark.django_db(transaction=True)
def test_two_requests_submitted_at_once_do_not_pass_the_days_cap(
    home,  # noqa: F811
    household,  # noqa: F811
    monkeypatch,
):
    for _n in range(portal_requests.REQUESTS_PER_DAY - 1):
        submit(home, household, photos=[])
    counted = threading.Barrier(2)
    create = services.request_create

    def create_once_both_counted(**kwargs):
        with contextlib.suppress(threading.BrokenBarrierError):
            counted.wait(timeout=MEET_SECONDS)
        return create(**kwargs)

    monkeypatch.setattr(services, "request_create", create_once_both_counted)
    outcomes: list[str] = []

    def attempt():
        try:
            submit(home, household, photos=[])
            outcomes.append("saved")
        except ValidationError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused", "saved"]
    assert (
        ServiceRequest.objects.filter(customer=home.customer).count()
        == portal_requests.REQUESTS_PER_DAY
    )
