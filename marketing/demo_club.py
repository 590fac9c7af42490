"""Demo member club: three levels with their benefits, the point rules, the points
the owners earned so far (the hourly sweep, run once), welcome points for a few
owners and a club event for silver members and above. Run by the demo_data command
after the demo campaigns; a second run adds nothing."""

from __future__ import annotations

import random
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from crm_site.audit import unaudited
from crm_site.models import User
from customers.services import existing_with_mobile
from marketing import services
from marketing.models import (
    Campaign,
    CampaignMember,
    ClubLevel,
    PointEntry,
    PointRule,
    Segment,
)
from marketing.services.club import members, members_enrol, points_correct, points_sweep
from sales.models import Project

# name, minimum points, benefits (one a line), order
LEVELS = [
    ("普卡", 0, "业主生日礼\n社区活动优先报名", 1),
    ("银卡", 500, "每季度免费洗车一次\n物业费九五折\n会员活动专享名额", 2),
    (
        "金卡",
        2000,
        "物业费九折\n家政服务每年两次\n置业顾问一对一服务\n再购房额外优惠",
        3,
    ),
]
# source, points per occurrence
RULES = [
    ("referral_contract", 1000),
    ("event_attended", 100),
    ("survey_answered", 50),
    ("ownership_year", 200),
]
WELCOME = 600
WELCOME_REASON = "开卡礼（演示数据）"
EVENT = "银卡会员·金秋品酒会"
# The owner portal's demo owner (service.demo_portal).
DEMO_OWNER_MOBILE = "+8613800138888"


@transaction.atomic
@unaudited("demo data sets up its own history")
def seed(rng: random.Random, users: dict[str, User]) -> None:
    for name, min_points, benefits, order in LEVELS:
        ClubLevel.objects.get_or_create(
            name=name,
            defaults={"min_points": min_points, "benefits": benefits, "order": order},
        )
    for source, points in RULES:
        PointRule.objects.get_or_create(source=source, defaults={"points": points})
    members_enrol()
    points_sweep()
    admin = users.get("admin") or users["marketer"]
    demo_owner = existing_with_mobile(DEMO_OWNER_MOBILE)
    welcomed = list(members().order_by("pk")[:5])
    if demo_owner is not None and demo_owner not in welcomed:
        welcomed.append(demo_owner)
    for owner in welcomed:
        # Each once: a second run (or a demo owner added later) welcomes nobody twice.
        if not PointEntry.objects.filter(member=owner, reason=WELCOME_REASON).exists():
            points_correct(
                actor=admin, member=owner, points=WELCOME, reason=WELCOME_REASON
            )
    campaign = _club_event(users["marketer"])
    if campaign is not None and demo_owner is not None:
        # The portal's demo owner (a buyer whose contract is signed, silver with her
        # welcome points) is invited too, so the portal shows the event to sign up for.
        CampaignMember.objects.get_or_create(campaign=campaign, customer=demo_owner)


def _club_event(marketer: User) -> Campaign | None:
    """The demo club event, running, for silver members and above (once)."""
    found = Campaign.objects.filter(name=EVENT).first()
    project = Project.objects.order_by("pk").first()
    if found is not None or project is None:
        return found
    segment, _created = Segment.objects.get_or_create(
        name="业主·全部",
        defaults={"criteria": {"stage": "owner"}, "created_by": marketer},
    )
    starts = timezone.localdate() + timedelta(days=10)
    campaign = services.campaign_create(
        actor=marketer,
        name=EVENT,
        kind=Campaign.Kind.EVENT,
        project=project,
        segment=segment,
        starts_on=starts,
        ends_on=starts,
        budget=15000,
        message="诚邀银卡及以上会员品鉴秋季新酒，会所二楼，下午三点。",
        min_level=ClubLevel.objects.get(name="银卡"),
    )
    return services.campaign_move(
        actor=marketer, campaign=campaign, status=Campaign.Status.RUNNING
    )
