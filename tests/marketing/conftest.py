"""Fixtures for referrals and channel partners: deals signed through the real services."""

from __future__ import annotations

from decimal import Decimal

import pytest

from crm_site.roles import Role
from marketing.models import Broker, ChannelPartner
from sales import services
from sales.models import Opportunity, Unit
from tests.factories import UserFactory, make_building


@pytest.fixture
def building(db):
    return make_building(floors=12, per_floor=4)


@pytest.fixture
def project(building):
    return building.project


@pytest.fixture
def sign(building):
    """sign(customer, consultant, stage="contracted"): a deal of the customer taken to
    the stage through the sales services, on the next free unit."""

    def run(customer, consultant, stage: str = Opportunity.Stage.CONTRACTED):
        deal = services.opportunity_open(
            actor=consultant, customer=customer, project=building.project
        )
        unit = Unit.objects.filter(
            building=building, status=Unit.Status.AVAILABLE
        ).first()
        services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
        if stage == Opportunity.Stage.RESERVED:
            return deal
        services.unit_subscribe(actor=consultant, opportunity=deal)
        if stage == Opportunity.Stage.SUBSCRIBED:
            return deal
        return services.opportunity_contract(actor=consultant, opportunity=deal)

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
