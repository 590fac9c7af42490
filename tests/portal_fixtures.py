"""Owners of the portal (crm_site.portal) for every test: ``owner`` and
``other_owner``, each the buyer of a subscribed deal on a unit with a co-buyer and a
payment plan, and test Clients signed in as them (their own owner session cookie,
never a staff login). tests/conftest.py imports these fixtures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from customers.models import Customer


@dataclass
class Household:
    buyer: Customer
    co_buyer: Customer
    deal: object
    unit: object


def make_owner_household(
    *,
    actor,
    project_name: str,
    buyer_name: str,
    buyer_mobile: str,
    co_buyer_name: str,
    co_buyer_mobile: str,
    plan: bool = True,
) -> Household:
    """A buyer and a co-buyer of one household, with a subscribed deal on a unit of a
    new building of the project (and a payment plan), all through the services."""
    from customers.services import household_link
    from sales.models import Unit
    from sales.services import opportunity_open, unit_reserve, unit_subscribe
    from sales.services.co_buyers import deal_co_buyers_set
    from sales.services.money import payment_plan_create
    from tests.factories import CustomerFactory, make_building

    building = make_building(project_name=project_name, floors=3, per_floor=2)
    if actor.team_id:
        building.project.teams.add(actor.team)
    unit = Unit.objects.filter(building=building).order_by("floor", "position").first()
    buyer = CustomerFactory(
        name=buyer_name, mobile=buyer_mobile, assigned_consultant=actor
    )
    co_buyer = CustomerFactory(
        name=co_buyer_name, mobile=co_buyer_mobile, assigned_consultant=actor
    )
    household_link(actor=actor, customer=buyer, other=co_buyer, role="spouse")
    deal = opportunity_open(actor=actor, customer=buyer, project=building.project)
    unit_reserve(actor=actor, opportunity=deal, unit=unit)
    deal_co_buyers_set(actor=actor, deal=deal, customers=[co_buyer])
    deal = unit_subscribe(actor=actor, opportunity=deal)
    if plan:
        payment_plan_create(
            actor=actor,
            opportunity=deal,
            scheme="mortgage",
            deposit=Decimal("50000.00"),
            start=timezone.localdate() - timedelta(days=40),
        )
    buyer.refresh_from_db()
    co_buyer.refresh_from_db()
    deal.refresh_from_db()
    unit.refresh_from_db()
    return Household(buyer=buyer, co_buyer=co_buyer, deal=deal, unit=unit)


def owner_client_for(customer: Customer, *, remember: bool = False) -> Client:
    """A test Client signed in to the portal as this customer (an owner session)."""
    from crm_site import portal

    client = Client()
    session = portal.session_for(customer, remember=remember)
    client.cookies[settings.PORTAL_SESSION_COOKIE] = session.session_key
    return client


@pytest.fixture
def owner_household(consultant) -> Household:
    return make_owner_household(
        actor=consultant,
        project_name="安居·业主苑",
        buyer_name="周业主",
        buyer_mobile="+8613812340001",
        co_buyer_name="吴共买",
        co_buyer_mobile="+8613812340002",
    )


@pytest.fixture
def owner(owner_household) -> Customer:
    """A customer with a subscribed deal on a unit, with a co-buyer."""
    return owner_household.buyer


@pytest.fixture
def owner_client(owner) -> Client:
    return owner_client_for(owner)


@pytest.fixture
def other_owner_household(other_consultant) -> Household:
    return make_owner_household(
        actor=other_consultant,
        project_name="安居·邻里湾",
        buyer_name="郑邻居",
        buyer_mobile="+8613812349001",
        co_buyer_name="冯邻居",
        co_buyer_mobile="+8613812349002",
    )


@pytest.fixture
def other_owner(other_owner_household) -> Customer:
    """The buyer of another household (another unit, another deal)."""
    return other_owner_household.buyer


@pytest.fixture
def other_owner_client(other_owner) -> Client:
    return owner_client_for(other_owner)
