"""Two workers making the same contract's reward and commission due at once: one each."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from marketing.models import Commission, ReferralReward
from marketing.services.partners import (
    commission_on_contract,
    partner_registration_create,
)
from marketing.services.referrals import referral_create, reward_on_contract
from tests.factories import CustomerFactory


@pytest.mark.django_db(transaction=True)
def test_reward_and_commission_are_made_once_when_asked_twice_at_once(
    consultant, broker, partner, project, sign
):
    owner = CustomerFactory(stage="owner")
    link = partner_registration_create(
        broker=broker,
        partner=partner,
        project=project,
        name="冯一",
        mobile="+8613911112222",
    )
    referral_create(
        actor=consultant, referrer=owner, friend=link.customer, project=None
    )
    deal = sign(link.customer, consultant)
    ReferralReward.objects.all().delete()
    Commission.objects.all().delete()
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def attempt() -> None:
        from django.db import transaction

        try:
            barrier.wait()
            with transaction.atomic():
                reward_on_contract(opportunity=deal, actor=consultant)
                commission_on_contract(opportunity=deal, actor=consultant)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert ReferralReward.objects.count() == 1
    assert Commission.objects.count() == 1
