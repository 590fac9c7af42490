"""A merge of two records of one person never makes them their own referrer: a
referral between the two records stays on the absorbed one (and comes back on undo),
and no reward is due on a referral whose referrer and friend are one person."""

from __future__ import annotations

import pytest

from customers.models import Customer
from customers.services.merge import customer_merge, customer_merge_restore
from marketing.models import Referral, ReferralReward
from marketing.services.referrals import referral_create
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def records(consultant):
    """Two records of one owner, 孙八: the survivor and the one merged into it."""
    survivor = CustomerFactory(
        name="孙八", mobile="+8613812340001", assigned_consultant=consultant
    )
    absorbed = CustomerFactory(
        name="孙八",
        mobile="+8613812340002",
        stage=Customer.Stage.OWNER,
        assigned_consultant=consultant,
    )
    return survivor, absorbed


def test_a_merge_leaves_the_absorbed_records_referral_of_the_survivor_where_it_was(
    records, consultant, sales_manager, project
):
    survivor, absorbed = records
    own = referral_create(
        actor=consultant, referrer=absorbed, friend=survivor, project=project
    )
    other = referral_create(
        actor=consultant,
        referrer=absorbed,
        friend=CustomerFactory(name="吴九", assigned_consultant=consultant),
        project=project,
    )

    record = customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
    )

    assert not Referral.objects.filter(referrer=survivor, friend=survivor).exists()
    own.refresh_from_db()
    assert (own.referrer_id, own.friend_id) == (absorbed.pk, survivor.pk)
    # The absorbed record's other referrals follow the survivor, as before.
    assert Referral.objects.get(pk=other.pk).referrer_id == survivor.pk

    customer_merge_restore(actor=sales_manager, record=record)
    own.refresh_from_db()
    assert (own.referrer_id, own.friend_id) == (absorbed.pk, survivor.pk)
    assert Referral.objects.get(pk=other.pk).referrer_id == absorbed.pk


def test_a_merge_leaves_the_survivors_referral_of_the_absorbed_record_where_it_was(
    consultant, sales_manager, project
):
    survivor = CustomerFactory(
        name="孙八", stage=Customer.Stage.OWNER, assigned_consultant=consultant
    )
    absorbed = CustomerFactory(name="孙八", assigned_consultant=consultant)
    own = referral_create(
        actor=consultant, referrer=survivor, friend=absorbed, project=project
    )

    record = customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
    )

    assert not Referral.objects.filter(referrer=survivor, friend=survivor).exists()
    own.refresh_from_db()
    assert (own.referrer_id, own.friend_id) == (survivor.pk, absorbed.pk)
    customer_merge_restore(actor=sales_manager, record=record)
    own.refresh_from_db()
    assert (own.referrer_id, own.friend_id) == (survivor.pk, absorbed.pk)


def test_no_reward_is_due_when_the_referrer_was_merged_into_the_friend(
    records, consultant, sales_manager, project, sign
):
    survivor, absorbed = records
    referral_create(
        actor=consultant, referrer=absorbed, friend=survivor, project=project
    )
    customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
    )

    sign(survivor, consultant)

    assert not ReferralReward.objects.exists()


def test_after_an_undone_merge_the_two_customers_earn_the_reward_again(
    records, consultant, sales_manager, project, sign
):
    survivor, absorbed = records
    referral = referral_create(
        actor=consultant, referrer=absorbed, friend=survivor, project=project
    )
    record = customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
    )
    customer_merge_restore(actor=sales_manager, record=record)

    sign(survivor, consultant)

    assert ReferralReward.objects.get().referral == referral


def test_no_reward_is_due_on_a_referral_of_oneself(consultant, project, sign):
    # Left by a merge before the referral rules refused it.
    owner = CustomerFactory(name="孙八", assigned_consultant=consultant)
    Referral.objects.create(
        referrer=owner, friend=owner, project=project, recorded_by=consultant
    )

    sign(owner, consultant)

    assert not ReferralReward.objects.exists()
