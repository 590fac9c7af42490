"""Review: club points for a referral whose deal is cancelled, and a re-sign."""

from __future__ import annotations

import pytest

from marketing import point_sources
from marketing.models import ClubMember, PointEntry, PointRule, ReferralReward
from marketing.point_sources import referral_award_keys
from marketing.services.club import points_award, points_sweep, points_take_back
from marketing.services.referrals import referral_create
from tests.factories import CustomerFactory


@pytest.fixture
def rule(db) -> PointRule:
    return PointRule.objects.create(source=point_sources.REFERRAL_CONTRACT, points=200)


def _cancel(deal, consultant, sales_manager) -> None:
    from sales import services as sales_services

    change = sales_services.deal_change_request(
        actor=consultant, opportunity=deal, kind="cancel", reason="退房"
    )
    sales_services.deal_change_decide(actor=sales_manager, change=change, approve=True)


def _balance(customer) -> int:
    return ClubMember.objects.get(customer=customer).balance


def test_a_cancelled_referral_deal_takes_its_club_points_back_and_a_re_sign_earns_them(
    owner_customer, consultant, sales_manager, sign, rule, project
):
    friend = CustomerFactory(assigned_consultant=consultant)
    referral_create(
        actor=consultant, referrer=owner_customer, friend=friend, project=project
    )
    deal = sign(friend, consultant)
    award = {
        "source": point_sources.REFERRAL_CONTRACT,
        "customer_ids": [owner_customer.pk],
    }
    assert points_award(**award) == 1
    assert _balance(owner_customer) == 200

    _cancel(deal, consultant, sales_manager)

    assert not ReferralReward.objects.exists()
    # The deal earns nothing any more: the award is answered by a correction.
    assert _balance(owner_customer) == 0
    reversal = PointEntry.objects.get(kind=PointEntry.Kind.CORRECTION)
    assert reversal.points == -200
    assert reversal.corrects.key == f"referral:{friend.referred_by.pk}"
    assert reversal.member_id == owner_customer.pk
    # Nothing more by the sweep, nor by taking the points back twice.
    points_sweep()
    keys = referral_award_keys(friend.referred_by.pk, 0)
    assert points_take_back(actor=sales_manager, keys=keys, reason="再次") == 0
    assert _balance(owner_customer) == 0

    # The friend signs again: the new reward earns the points again, once.
    sign(friend, consultant)
    assert ReferralReward.objects.count() == 1
    assert points_award(**award) == 1
    assert points_award(**award) == 0
    assert points_sweep()[point_sources.REFERRAL_CONTRACT] == 0
    assert _balance(owner_customer) == 200


def test_a_paid_reward_keeps_its_points_when_the_deal_is_cancelled(
    owner_customer, consultant, sales_manager, marketer, sign, rule, project
):
    from marketing.models.payouts import Payout
    from marketing.services.payouts import payout_move

    friend = CustomerFactory(assigned_consultant=consultant)
    referral_create(
        actor=consultant, referrer=owner_customer, friend=friend, project=project
    )
    deal = sign(friend, consultant)
    points_award(
        source=point_sources.REFERRAL_CONTRACT, customer_ids=[owner_customer.pk]
    )
    reward = ReferralReward.objects.get()
    payout_move(actor=sales_manager, payout=reward, status=Payout.Status.APPROVED)
    payout_move(actor=marketer, payout=reward, status=Payout.Status.PAID)

    _cancel(deal, consultant, sales_manager)

    # The reward stays paid (getting it back is a person's matter), so do the points.
    assert ReferralReward.objects.get().status == Payout.Status.PAID
    assert not PointEntry.objects.filter(kind=PointEntry.Kind.CORRECTION).exists()
    assert _balance(owner_customer) == 200
