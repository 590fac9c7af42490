"""An award taken back and given back stands again: the next occasion takes it back
again, once, however often the cycle repeats (a merge undone and done again, a
referral's deal cancelled and signed again)."""

from __future__ import annotations

import pytest
from django.db.models import Sum

from customers.services.merge import customer_merge, customer_merge_restore
from marketing import point_sources, services
from marketing.models import CampaignMember, ClubMember, PointEntry, PointRule
from marketing.services.club import (
    _lock_members,
    balances_refresh,
    correction_answering,
    points_award,
    points_sweep,
    points_take_back,
)
from marketing.services.referrals import referral_create
from tests.factories import CustomerFactory


def _balance(customer) -> int:
    return ClubMember.objects.get(customer=customer).balance


def _ledger(customer) -> int:
    return (
        PointEntry.objects.filter(member=customer).aggregate(t=Sum("points"))["t"] or 0
    )


def _checked_in(marketer, campaign, customer) -> None:
    member, _ = CampaignMember.objects.get_or_create(
        campaign=campaign, customer=customer
    )
    services.checkin_by_code(actor=marketer, campaign=campaign, code=member.code)


def _give_back(take_back: PointEntry, member) -> None:
    """The occurrence stands again: the take-back is answered (as a merge's undo
    answers its own)."""
    _lock_members([member.pk])
    correction_answering(take_back, member_id=member.pk, reason="恢复", actor=None)
    balances_refresh([member.pk])


def _award(member, key: str = "checkin:900001") -> PointEntry:
    award = PointEntry.objects.create(
        member=member,
        kind=PointEntry.Kind.AWARD,
        points=50,
        source=point_sources.EVENT_ATTENDED,
        key=key,
    )
    _lock_members([member.pk])
    balances_refresh([member.pk])
    return award


@pytest.fixture
def event_rule(db) -> PointRule:
    return PointRule.objects.create(source=point_sources.EVENT_ATTENDED, points=50)


@pytest.fixture
def referral_rule(db) -> PointRule:
    return PointRule.objects.create(source=point_sources.REFERRAL_CONTRACT, points=200)


def _cancel(deal, consultant, sales_manager) -> None:
    from sales import services as sales_services

    change = sales_services.deal_change_request(
        actor=consultant, opportunity=deal, kind="cancel", reason="退房"
    )
    sales_services.deal_change_decide(actor=sales_manager, change=change, approve=True)


def test_an_award_taken_back_and_given_back_is_taken_back_again_once(db):
    member = CustomerFactory(stage="owner")
    award = _award(member)
    for _cycle in range(3):
        assert PointEntry.objects.filter(pk=award.pk).standing().exists()
        assert points_take_back(actor=None, keys=[award.key], reason="撤回") == 1
        assert points_take_back(actor=None, keys=[award.key], reason="撤回") == 0
        assert not PointEntry.objects.filter(pk=award.pk).standing().exists()
        assert PointEntry.objects.filter(pk=award.pk).taken_back().exists()
        assert _balance(member) == 0
        _give_back(PointEntry.objects.filter(corrects=award).latest("pk"), member)
        assert _balance(member) == 50
        assert PointEntry.objects.filter(pk=award.pk).standing().exists()
    assert _ledger(member) == 50


def test_a_staff_correction_of_an_award_does_not_count_as_a_take_back(marketer):
    from marketing.services.club import points_correct

    member = CustomerFactory(stage="owner")
    award = _award(member)
    points_correct(
        actor=marketer, member=member, points=-10, reason="多发", corrects=award
    )
    assert PointEntry.objects.filter(pk=award.pk).standing().exists()
    assert points_take_back(actor=None, keys=[award.key], reason="撤回") == 1
    assert _balance(member) == -10


def test_merging_twins_again_after_an_undo_takes_the_event_points_back_again(
    marketer, running, consultant, sales_manager, event_rule
):
    survivor = CustomerFactory(stage="owner", assigned_consultant=consultant)
    twin = CustomerFactory(stage="owner", assigned_consultant=consultant)
    _checked_in(marketer, running, survivor)
    _checked_in(marketer, running, twin)
    points_award(
        source=point_sources.EVENT_ATTENDED, customer_ids=[survivor.pk, twin.pk]
    )
    for _cycle in range(3):
        record = customer_merge(
            actor=sales_manager, survivor=survivor, absorbed=twin, choices={}
        )
        assert (_balance(survivor), _balance(twin)) == (50, 0)
        assert _ledger(survivor) == 50
        points_sweep()
        assert _balance(survivor) == 50

        customer_merge_restore(actor=sales_manager, record=record)
        survivor.refresh_from_db()
        twin.refresh_from_db()
        assert (_balance(survivor), _balance(twin)) == (50, 50)
        assert (_ledger(survivor), _ledger(twin)) == (50, 50)
    # Each merge took back once, each undo gave back once.
    corrections = PointEntry.objects.filter(kind=PointEntry.Kind.CORRECTION)
    assert corrections.filter(corrects__kind=PointEntry.Kind.AWARD).count() == 3
    assert corrections.filter(corrects__kind=PointEntry.Kind.CORRECTION).count() == 3


def test_a_referral_cancelled_and_signed_again_repeatedly_holds_its_points_once(
    owner_customer, consultant, sales_manager, sign, referral_rule, project
):
    friend = CustomerFactory(assigned_consultant=consultant)
    referral_create(
        actor=consultant, referrer=owner_customer, friend=friend, project=project
    )
    award = {
        "source": point_sources.REFERRAL_CONTRACT,
        "customer_ids": [owner_customer.pk],
    }
    for _cycle in range(3):
        deal = sign(friend, consultant)
        assert points_award(**award) == 1
        assert points_award(**award) == 0
        assert _balance(owner_customer) == 200
        _cancel(deal, consultant, sales_manager)
        assert _balance(owner_customer) == 0
        assert points_sweep()[point_sources.REFERRAL_CONTRACT] == 0
        assert _balance(owner_customer) == _ledger(owner_customer) == 0
    awards = PointEntry.objects.filter(kind=PointEntry.Kind.AWARD)
    assert awards.count() == 3
    assert not awards.standing().exists()
    assert awards.taken_back().count() == 3


def test_a_referral_take_back_answered_is_taken_back_on_the_next_cancel(
    owner_customer, consultant, sales_manager, sign, referral_rule, project
):
    friend = CustomerFactory(assigned_consultant=consultant)
    referral_create(
        actor=consultant, referrer=owner_customer, friend=friend, project=project
    )
    deal = sign(friend, consultant)
    points_award(
        source=point_sources.REFERRAL_CONTRACT, customer_ids=[owner_customer.pk]
    )
    award = PointEntry.objects.get(kind=PointEntry.Kind.AWARD)
    keys = point_sources.referral_award_keys(friend.referred_by.pk, 0)
    assert points_take_back(actor=None, keys=keys, reason="撤回") == 1
    _give_back(PointEntry.objects.get(corrects=award), owner_customer)
    assert _balance(owner_customer) == 200

    _cancel(deal, consultant, sales_manager)
    assert _balance(owner_customer) == _ledger(owner_customer) == 0
    assert points_take_back(actor=None, keys=keys, reason="撤回") == 0
    assert _balance(owner_customer) == 0
