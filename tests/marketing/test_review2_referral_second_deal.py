"""A referred friend with two signed deals: cancelling the one the reward was credited
to makes the reward due on the other, with the referrer's club points."""

from __future__ import annotations

import pytest

from marketing import point_sources
from marketing.models import ClubMember, PointRule, Referral, ReferralReward
from marketing.models.payouts import Payout
from marketing.services.club import points_award
from marketing.services.referrals import referral_create
from sales import services as sales_services
from sales.models import Unit
from tests.factories import CustomerFactory, make_building


def _cancel(deal, consultant, sales_manager) -> None:
    from sales import services as sales_services

    change = sales_services.deal_change_request(
        actor=consultant, opportunity=deal, kind="cancel", reason="退房"
    )
    sales_services.deal_change_decide(actor=sales_manager, change=change, approve=True)


@pytest.fixture
def sign_elsewhere(team):
    """sign_elsewhere(customer, consultant): a contracted deal at a second project."""
    building = make_building(project_name="安居·江南府")
    building.project.teams.add(team)

    def run(customer, consultant):
        deal = sales_services.opportunity_open(
            actor=consultant, customer=customer, project=building.project
        )
        unit = Unit.objects.filter(
            building=building, status=Unit.Status.AVAILABLE
        ).first()
        sales_services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
        sales_services.unit_subscribe(actor=consultant, opportunity=deal)
        return sales_services.opportunity_contract(actor=consultant, opportunity=deal)

    return run


@pytest.fixture
def friend(consultant):
    return CustomerFactory(name="吴九", assigned_consultant=consultant)


def test_cancelling_the_credited_deal_credits_the_friends_other_signed_deal(
    owner_customer, friend, consultant, sales_manager, sign, sign_elsewhere
):
    referral = referral_create(
        actor=consultant, referrer=owner_customer, friend=friend, project=None
    )
    first = sign(friend, consultant)
    second = sign_elsewhere(friend, consultant)
    referral.refresh_from_db()
    assert referral.opportunity_id == first.pk

    _cancel(first, consultant, sales_manager)

    referral.refresh_from_db()
    assert referral.opportunity_id == second.pk
    reward = ReferralReward.objects.get()
    assert reward.referral_id == referral.pk
    assert reward.status == Payout.Status.DUE


def test_the_referrers_points_come_back_on_the_other_deal(
    owner_customer, friend, consultant, sales_manager, sign, sign_elsewhere
):
    PointRule.objects.create(source=point_sources.REFERRAL_CONTRACT, points=200)
    referral_create(
        actor=consultant, referrer=owner_customer, friend=friend, project=None
    )
    first = sign(friend, consultant)
    sign_elsewhere(friend, consultant)
    award = {
        "source": point_sources.REFERRAL_CONTRACT,
        "customer_ids": [owner_customer.pk],
    }
    points_award(**award)
    _cancel(first, consultant, sales_manager)
    points_award(**award)
    assert ClubMember.objects.get(customer=owner_customer).balance == 200


def test_a_friends_other_deal_at_another_project_earns_no_project_referral(
    owner_customer, friend, consultant, sales_manager, sign, sign_elsewhere, project
):
    referral_create(
        actor=consultant, referrer=owner_customer, friend=friend, project=project
    )
    first = sign(friend, consultant)
    # A signed deal elsewhere: not what this referral was for.
    sign_elsewhere(friend, consultant)
    _cancel(first, consultant, sales_manager)
    assert not ReferralReward.objects.exists()
    assert Referral.objects.get().opportunity_id is None
