"""Which campaign a new deal is credited to: the latest the customer answered among
the campaigns of the deal's own project, never a cancelled one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from marketing import selectors, services
from marketing.models import CampaignMember, Response
from sales import attribution
from sales.models import Project
from sales.services import opportunity_open
from tests.factories import CustomerFactory
from tests.marketing.conftest import make_campaign


@pytest.fixture
def other_project(db) -> Project:
    return Project.objects.create(name="安居·江南府")


def answer(marketer, campaign, customer) -> Response:
    """Start the campaign (if planned) and check the customer in."""
    services.campaign_move(actor=marketer, campaign=campaign, status="running")
    member, _ = CampaignMember.objects.get_or_create(
        campaign=campaign, customer=customer
    )
    response, _ = services.checkin_by_code(
        actor=marketer, campaign=campaign, code=member.code
    )
    return response


def test_a_deal_is_credited_to_its_own_projects_campaign_not_the_latest_anywhere(
    marketer, segment, consultant, project, other_project
):
    event_a = make_campaign(marketer, project, segment, name="A 开盘品鉴会")
    event_b = make_campaign(marketer, other_project, segment, name="B 样板间开放")
    customer = CustomerFactory(assigned_consultant=consultant)
    answer(marketer, event_a, customer)
    answer(marketer, event_b, customer)
    deal_a = opportunity_open(actor=consultant, customer=customer, project=project)
    deal_b = opportunity_open(
        actor=consultant, customer=customer, project=other_project
    )
    assert deal_a.campaign_id == event_a.pk
    assert deal_b.campaign_id == event_b.pk


def test_the_latest_response_of_the_projects_campaigns_wins(
    marketer, segment, consultant, project
):
    earlier = make_campaign(marketer, project, segment, name="春季品鉴会")
    later = make_campaign(marketer, project, segment, name="秋季品鉴会")
    customer = CustomerFactory(assigned_consultant=consultant)
    answer(marketer, later, customer)
    # Recorded after, but dated a month before (the time it happened decides).
    first = answer(marketer, earlier, customer)
    Response.objects.filter(pk=first.pk).update(at=timezone.now() - timedelta(days=30))
    deal = opportunity_open(actor=consultant, customer=customer, project=project)
    assert deal.campaign_id == later.pk


def test_no_campaign_of_the_deals_project_credits_none(
    marketer, segment, consultant, project, other_project
):
    elsewhere = make_campaign(marketer, other_project, segment, name="B 样板间开放")
    customer = CustomerFactory(assigned_consultant=consultant)
    answer(marketer, elsewhere, customer)
    deal = opportunity_open(actor=consultant, customer=customer, project=project)
    assert deal.campaign_id is None


def test_a_cancelled_campaign_is_credited_with_nothing(
    marketer, segment, consultant, project
):
    kept = make_campaign(marketer, project, segment, name="开盘品鉴会")
    called_off = make_campaign(marketer, project, segment, name="取消的活动")
    customer = CustomerFactory(assigned_consultant=consultant)
    answer(marketer, kept, customer)
    answer(marketer, called_off, customer)
    services.campaign_move(actor=marketer, campaign=called_off, status="cancelled")
    assert attribution.campaign_for(customer=customer, project=project) == kept.pk
    deal = opportunity_open(actor=consultant, customer=customer, project=project)
    assert deal.campaign_id == kept.pk


def test_latest_campaign_of_without_a_project_still_reads_any_project(
    marketer, segment, consultant, project, other_project
):
    event_a = make_campaign(marketer, project, segment, name="A 开盘品鉴会")
    event_b = make_campaign(marketer, other_project, segment, name="B 样板间开放")
    customer = CustomerFactory(assigned_consultant=consultant)
    answer(marketer, event_a, customer)
    answer(marketer, event_b, customer)
    assert selectors.latest_campaign_of(customer=customer) == event_b.pk
    assert selectors.latest_campaign_of(customer=customer, project=project) == (
        event_a.pk
    )
