"""Two records of one person each checked in at the same event: merged, the person
holds one event's points once; undone, each record has its points again."""

from __future__ import annotations

import pytest

from customers.services.merge import customer_merge, customer_merge_restore
from marketing import point_sources, services
from marketing.models import CampaignMember, ClubMember, PointRule
from marketing.services.club import points_award, points_sweep
from tests.factories import CustomerFactory


@pytest.fixture
def rule(db) -> PointRule:
    return PointRule.objects.create(source=point_sources.EVENT_ATTENDED, points=50)


def _checked_in(marketer, campaign, customer) -> None:
    member, _ = CampaignMember.objects.get_or_create(
        campaign=campaign, customer=customer
    )
    services.checkin_by_code(actor=marketer, campaign=campaign, code=member.code)


def _balance(customer) -> int:
    return ClubMember.objects.get(customer=customer).balance


def test_a_merge_takes_back_the_second_award_of_one_event_and_undo_gives_it_back(
    marketer, running, consultant, sales_manager, rule
):
    survivor = CustomerFactory(stage="owner", assigned_consultant=consultant)
    twin = CustomerFactory(stage="owner", assigned_consultant=consultant)
    _checked_in(marketer, running, survivor)
    _checked_in(marketer, running, twin)
    points_award(
        source=point_sources.EVENT_ATTENDED, customer_ids=[survivor.pk, twin.pk]
    )
    assert (_balance(survivor), _balance(twin)) == (50, 50)

    record = customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=twin, choices={}
    )
    assert _balance(survivor) == 50
    assert _balance(twin) == 0
    # Nothing earns it again.
    points_sweep()
    assert _balance(survivor) == 50

    customer_merge_restore(actor=sales_manager, record=record)
    assert (_balance(survivor), _balance(twin)) == (50, 50)


def test_a_merge_keeps_the_points_of_different_events(
    marketer, running, project, segment, consultant, sales_manager, rule
):
    from tests.marketing.conftest import make_campaign

    other = make_campaign(marketer, project, segment, name="样板间开放日")
    services.campaign_move(actor=marketer, campaign=other, status="running")
    survivor = CustomerFactory(stage="owner", assigned_consultant=consultant)
    twin = CustomerFactory(stage="owner", assigned_consultant=consultant)
    _checked_in(marketer, running, survivor)
    _checked_in(marketer, other, twin)
    points_award(
        source=point_sources.EVENT_ATTENDED, customer_ids=[survivor.pk, twin.pk]
    )
    customer_merge(actor=sales_manager, survivor=survivor, absorbed=twin, choices={})
    assert _balance(survivor) == 100
