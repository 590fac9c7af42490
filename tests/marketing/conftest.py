"""Marketing fixtures: a project sold by the consultants' team (a building of units),
segments and campaigns, deals signed through the real services, channel partners."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from crm_site import messaging
from crm_site.roles import Role
from marketing import services
from marketing.models import Broker, Campaign, ChannelPartner, Segment
from sales import services as sales_services
from sales.models import Opportunity, Unit
from tests.factories import UserFactory, make_building


@pytest.fixture
def outboxes(settings):
    settings.SMS_BACKEND = "crm_site.messaging.LocMemSmsBackend"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    messaging.sms_outbox.clear()
    mail.outbox = []
    return messaging.sms_outbox


@pytest.fixture
def segment(marketer) -> Segment:
    return Segment.objects.create(name="意向客户", criteria={"stage": "prospect"})


def make_campaign(marketer, project, segment=None, **fields) -> Campaign:
    today = timezone.localdate()
    values = {
        "name": "开盘品鉴会",
        "kind": Campaign.Kind.EVENT,
        "project": project,
        "segment": segment,
        "starts_on": today,
        "ends_on": today + timedelta(days=7),
        "invite_email": True,
        "invite_sms": True,
        "email_subject": "邀请函",
        "message": "诚邀您参加开盘品鉴会",
    }
    values.update(fields)
    return services.campaign_create(actor=marketer, **values)


@pytest.fixture
def campaign(marketer, project, segment) -> Campaign:
    return make_campaign(marketer, project, segment)


@pytest.fixture
def running(campaign, marketer) -> Campaign:
    return services.campaign_move(
        actor=marketer, campaign=campaign, status=Campaign.Status.RUNNING
    )


@pytest.fixture
def building(db):
    return make_building(floors=12, per_floor=4)


@pytest.fixture
def project(building, team):
    """The building's project, sold by the consultants' team."""
    building.project.teams.add(team)
    return building.project


@pytest.fixture
def sign(building):
    """sign(customer, consultant, stage="contracted"): a deal of the customer taken to
    the stage through the sales services, on the next free unit."""

    def run(customer, consultant, stage: str = Opportunity.Stage.CONTRACTED):
        deal = sales_services.opportunity_open(
            actor=consultant, customer=customer, project=building.project
        )
        unit = Unit.objects.filter(
            building=building, status=Unit.Status.AVAILABLE
        ).first()
        sales_services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
        if stage == Opportunity.Stage.RESERVED:
            return deal
        sales_services.unit_subscribe(actor=consultant, opportunity=deal)
        if stage == Opportunity.Stage.SUBSCRIBED:
            return deal
        return sales_services.opportunity_contract(actor=consultant, opportunity=deal)

    return run


@pytest.fixture
def partner(db):
    return ChannelPartner.objects.create(
        name="链家某门店",
        contact_name="周经理",
        contact_phone="+8613512345678",
        commission_kind=ChannelPartner.CommissionKind.PERCENT,
        commission_value=Decimal("1.50"),
    )


@pytest.fixture
def other_partner(db):
    return ChannelPartner.objects.create(
        name="我爱我家某门店",
        contact_name="吴经理",
        contact_phone="+8613512345679",
        commission_kind=ChannelPartner.CommissionKind.FIXED,
        commission_value=Decimal("8000"),
    )


@pytest.fixture
def broker(partner):
    user = UserFactory(username="broker", role=Role.CHANNEL_PARTNER)
    Broker.objects.create(user=user, partner=partner)
    return user


@pytest.fixture
def other_broker(other_partner):
    user = UserFactory(username="broker2", role=Role.CHANNEL_PARTNER)
    Broker.objects.create(user=user, partner=other_partner)
    return user


@pytest.fixture
def persona(request, broker):
    """The shared persona fixture, knowing the broker too."""
    if request.param == "broker":
        return broker
    return request.getfixturevalue(request.param)
