from __future__ import annotations

import random

from crm_site.models import User
from marketing import demo_campaigns
from marketing.models import Campaign, CampaignMember, CostLine, Response
from sales.models import Opportunity
from tests.factories import CustomerFactory


def test_demo_campaigns_seed_twice_adds_nothing_the_second_time(
    marketer, consultant, project
):
    CustomerFactory.create_batch(30)
    CustomerFactory.create_batch(5, stage="owner")
    customer = CustomerFactory()
    Opportunity.objects.create(
        customer=customer,
        project=project,
        consultant=consultant,
        stage="contracted",
        agreed_price=1_500_000,
    )
    users = {u.username: u for u in User.objects.all()}
    demo_campaigns.seed(random.Random(1), users)
    counts = [
        m.objects.count()
        for m in (Campaign, CampaignMember, CostLine, Response, Opportunity)
    ]
    assert counts[0] == 4 and counts[1] > 30 and counts[3] > 0
    assert Opportunity.objects.filter(campaign__isnull=False).exists()
    demo_campaigns.seed(random.Random(1), users)
    assert counts == [
        m.objects.count()
        for m in (Campaign, CampaignMember, CostLine, Response, Opportunity)
    ]


def test_demo_club_seeds_levels_rules_points_and_an_event_once(marketer, project):
    from marketing import demo_club
    from marketing.models import ClubLevel, ClubMember, PointEntry, PointRule

    CustomerFactory.create_batch(8, stage="owner", consent_sms=True)
    users = {u.username: u for u in User.objects.all()}
    demo_club.seed(random.Random(1), users)
    counts = [
        m.objects.count()
        for m in (ClubLevel, PointRule, PointEntry, ClubMember, Campaign)
    ]
    assert counts[:2] == [3, 4] and counts[2] == 5 and counts[3] == 8
    event = Campaign.objects.get(name=demo_club.EVENT)
    assert event.min_level.name == "银卡" and event.status == "running"
    assert event.members.count() == 5  # the owners with welcome points
    demo_club.seed(random.Random(1), users)
    assert counts == [
        m.objects.count()
        for m in (ClubLevel, PointRule, PointEntry, ClubMember, Campaign)
    ]
