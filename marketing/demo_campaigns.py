"""Demo campaigns: segments, campaigns of several types with their members, sent
invitations, sign-ups and check-ins (leads for consultants), deals credited to them
and their cost lines. Run by the demo_data command after the other steps; a second
run adds nothing (campaigns are looked up by name)."""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from crm_site.audit import unaudited
from crm_site.models import User
from marketing import services
from marketing.models import Campaign, CampaignMember, Invitation, Response, Segment
from sales.models import Opportunity, Project

SEGMENTS = [
    ("意向客户·短信", {"stage": "prospect", "consent": "sms"}),
    ("意向客户·邮件", {"stage": "prospect", "consent": "email"}),
    ("业主·无未结投诉", {"stage": "owner", "open_complaints": "no"}),
]

# name, type, segment, days from today to start, length, budget, final status,
# channels, [(cost item, amount)], guests checked in, deals credited
CAMPAIGNS = [
    (
        "御景湾开盘品鉴会",
        Campaign.Kind.EVENT,
        "意向客户·短信",
        -60,
        2,
        "80000",
        Campaign.Status.FINISHED,
        ("sms",),
        [("场地布置", "32000"), ("冷餐茶歇", "18000"), ("伴手礼", "12500")],
        12,
        3,
    ),
    (
        "秋季房展会",
        Campaign.Kind.EXHIBITION,
        "意向客户·邮件",
        -30,
        3,
        "120000",
        Campaign.Status.FINISHED,
        ("email",),
        [("展位费", "60000"), ("展台搭建", "35000")],
        8,
        2,
    ),
    (
        "老业主感恩季短信",
        Campaign.Kind.SMS,
        "业主·无未结投诉",
        -5,
        20,
        "5000",
        Campaign.Status.RUNNING,
        ("sms",),
        [("短信通道费", "1800")],
        4,
        0,
    ),
    (
        "地铁灯箱广告",
        Campaign.Kind.ADVERTISING,
        None,
        10,
        30,
        "200000",
        Campaign.Status.PLANNED,
        (),
        [],
        0,
        0,
    ),
]


def _segments(marketer: User) -> dict[str, Segment]:
    return {
        name: Segment.objects.get_or_create(
            name=name, defaults={"criteria": criteria, "created_by": marketer}
        )[0]
        for name, criteria in SEGMENTS
    }


def _invitations_sent(campaign: Campaign, channels: tuple[str, ...]) -> None:
    """Demo invitations are rows marked sent; nothing goes to a real provider."""
    when = timezone.make_aware(
        datetime.combine(campaign.starts_on - timedelta(days=7), time(10))
    )
    consent = {"sms": "customer__consent_sms", "email": "customer__consent_email"}
    for channel in channels:
        members = CampaignMember.objects.filter(
            campaign=campaign, **{consent[channel]: True}
        )
        Invitation.objects.bulk_create(
            [
                Invitation(
                    campaign=campaign,
                    member=member,
                    channel=channel,
                    status=Invitation.Status.SENT,
                    created_at=when,
                    claimed_at=when,
                    sent_at=when,
                    message_id="demo",
                )
                for member in members[:300]
            ],
            ignore_conflicts=True,
        )


def _responses(
    rng: random.Random, campaign: Campaign, marketer: User, guests: int
) -> None:
    members = list(
        CampaignMember.objects.filter(campaign=campaign).order_by("pk")[:200]
    )
    for member in rng.sample(members, min(guests, len(members))):
        services.response_record(
            actor=marketer, member=member, kind=Response.Kind.SIGNUP
        )
        if rng.random() < 0.8:
            services.response_record(
                actor=marketer, member=member, kind=Response.Kind.CHECKIN
            )


def _credit_deals(
    rng: random.Random, campaign: Campaign, marketer: User, count: int
) -> None:
    """Contracted deals of the project become this campaign's: their buyers were
    guests who checked in."""
    deals = list(
        Opportunity.objects.filter(
            project=campaign.project,
            campaign__isnull=True,
            stage__in=[Opportunity.Stage.CONTRACTED, Opportunity.Stage.PAID],
        ).order_by("pk")[:count]
    )
    for deal in deals:
        member, _created = CampaignMember.objects.get_or_create(
            campaign=campaign, customer=deal.customer
        )
        services.response_record(
            actor=marketer, member=member, kind=Response.Kind.CHECKIN
        )
        Opportunity.objects.filter(pk=deal.pk).update(campaign=campaign)


def _during_the_campaign(rng: random.Random, campaign: Campaign) -> None:
    """Sign-ups and check-ins dated within the campaign's days, not at seeding time."""
    first = timezone.make_aware(datetime.combine(campaign.starts_on, time(10)))
    days = max(
        (min(campaign.ends_on, timezone.localdate()) - campaign.starts_on).days, 0
    )
    for response in Response.objects.filter(member__campaign=campaign):
        at = first + timedelta(days=rng.randint(0, days), minutes=rng.randint(0, 480))
        Response.objects.filter(pk=response.pk).update(at=min(at, timezone.now()))


@transaction.atomic
@unaudited("demo data sets up and back-dates its own history")
def seed(rng: random.Random, users: dict[str, User]) -> None:
    marketer = users["marketer"]
    project = Project.objects.order_by("pk").first()
    if project is None:
        return
    segments = _segments(marketer)
    today = timezone.localdate()
    for (
        name,
        kind,
        segment_name,
        offset,
        days,
        budget,
        final,
        channels,
        costs,
        guests,
        deals,
    ) in CAMPAIGNS:
        if Campaign.objects.filter(name=name).exists():
            continue
        starts = today + timedelta(days=offset)
        ends = starts + timedelta(days=days)
        campaign = services.campaign_create(
            actor=marketer,
            name=name,
            kind=kind,
            project=project,
            segment=segments.get(segment_name),
            starts_on=starts,
            # Open until today while its guests answer (a campaign past its end date
            # takes no sign-ups); its own end date is set back afterwards.
            ends_on=max(ends, today),
            budget=Decimal(budget),
            invite_email="email" in channels,
            invite_sms="sms" in channels,
            email_subject=name if "email" in channels else "",
            message=f"诚邀您参加「{name}」，凭邀请码入场。",
        )
        for item, amount in costs:
            services.cost_line_add(
                actor=marketer,
                campaign=campaign,
                spent_on=starts,
                item=item,
                amount=Decimal(amount),
            )
        if final == Campaign.Status.PLANNED:
            continue
        campaign = services.campaign_move(
            actor=marketer, campaign=campaign, status=Campaign.Status.RUNNING
        )
        _invitations_sent(campaign, channels)
        _responses(rng, campaign, marketer, guests)
        _credit_deals(rng, campaign, marketer, deals)
        Campaign.objects.filter(pk=campaign.pk).update(ends_on=ends)
        campaign.refresh_from_db()
        _during_the_campaign(rng, campaign)
        if final == Campaign.Status.FINISHED:
            services.campaign_move(actor=marketer, campaign=campaign, status=final)
