"""The sweep and the on-commit award of the same occurrences, and a correction, all at
once: each occurrence earns points once and the balance is the ledger's sum."""

from __future__ import annotations

import threading
from unittest import mock

import pytest
from django.db import connection

from marketing.models import ClubMember, PointEntry, PointRule
from marketing.services.club import points_award, points_correct
from marketing.services.referrals import referral_create
from tests.factories import CustomerFactory


@pytest.mark.django_db(transaction=True)
def test_awards_at_once_earn_each_occurrence_once_and_keep_the_balance_exact(
    consultant, marketer, project, sign
):
    PointRule.objects.create(source="referral_contract", points=200)
    owner = CustomerFactory(stage="owner")
    # The on-commit award is what the threads below race with: not sent anywhere.
    with mock.patch("marketing.tasks.points_award.delay"):
        for _n in range(3):
            friend = CustomerFactory(assigned_consultant=consultant)
            referral_create(
                actor=consultant, referrer=owner, friend=friend, project=None
            )
            sign(friend, consultant)
    # Points to take from whichever runs first: a correction never takes the balance
    # below zero (points_correct), and the awards may come after it.
    points_correct(actor=marketer, member=owner, points=50, reason="开卡礼")
    barrier = threading.Barrier(5)
    errors: list[BaseException] = []

    def award(ids) -> None:
        try:
            barrier.wait()
            points_award(source="referral_contract", customer_ids=ids)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    def correct() -> None:
        try:
            barrier.wait()
            points_correct(actor=marketer, member=owner, points=-50, reason="并发更正")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=award, args=([owner.pk],)) for _ in range(2)]
    threads += [threading.Thread(target=award, args=(None,)) for _ in range(2)]
    threads.append(threading.Thread(target=correct))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert PointEntry.objects.filter(kind="award").count() == 3
    assert ClubMember.objects.get(customer=owner).balance == 3 * 200 + 50 - 50
