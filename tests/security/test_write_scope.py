"""Writes reach only what the user may change: another team's project's rules and
prices, a customer of the public pool through their mobile number (a unit held, a
deposit taken, a co-buyer linked) — each must go through its own door (the claim)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from sales.models import (
    CommissionRule,
    IntentDeposit,
    Opportunity,
    ProtectionRule,
    Unit,
)
from sales.services import sessions
from tests.factories import CustomerFactory, make_building

pytestmark = pytest.mark.django_db


@pytest.fixture
def building():
    return make_building()


@pytest.fixture
def pool_owner():
    """An owner in the public pool: pool_claim refuses them to a consultant."""
    return CustomerFactory(
        name="公海业主",
        mobile="+8613700137001",
        stage="owner",
        assigned_consultant=None,
    )


def test_a_manager_cannot_change_another_teams_project(
    client, sales_manager, other_team, building
):
    project = building.project
    project.teams.set([other_team])
    assert not sessions.projects_visible_to(sales_manager).filter(pk=project.pk)
    client.force_login(sales_manager)

    rules = client.post(
        reverse("sales:project-rules", args=[project.pk]),
        {
            "call_days": 1,
            "visit_days": 1,
            "follow_up_days": 1,
            "warn_days": 0,
            "daily_claim_cap": 500,
        },
    )
    aftersale = client.post(
        reverse("sales:project-aftersale-rules", args=[project.pk]),
        {
            "which": "commission",
            "commission-basis": "percent",
            "commission-rate": "5",
            "commission-earned_at": "paid",
        },
    )
    prices = client.post(
        reverse("sales:price-plan", args=[building.pk]),
        {"mode": "percent", "value": "50", "reason": "x", "confirm": "1"},
    )

    assert (rules.status_code, aftersale.status_code, prices.status_code) == (
        404,
        404,
        404,
    )
    assert not ProtectionRule.objects.filter(project=project, daily_claim_cap=500)
    assert not CommissionRule.objects.filter(project=project).exists()


def test_their_own_teams_project_is_still_theirs(client, sales_manager, building):
    building.project.teams.set([sales_manager.team])
    client.force_login(sales_manager)
    page = client.get(reverse("sales:project-rules", args=[building.project.pk]))
    assert page.status_code == 200


def test_a_unit_is_not_held_for_a_pool_customer_typed_by_mobile(
    client, consultant, building, pool_owner
):
    client.force_login(consultant)
    unit = building.units.first()

    answer = client.post(
        reverse("sales:unit-reserve", args=[unit.pk]),
        {"mobile": "137 0013 7001"},
        follow=True,
    )

    assert "公海客户请先认领" in answer.content.decode()  # the reason, on the unit
    unit.refresh_from_db()
    assert unit.status == Unit.Status.AVAILABLE
    assert not Opportunity.objects.filter(customer=pool_owner).exists()


def test_a_deposit_is_not_taken_for_a_pool_customer(client, consultant, pool_owner):
    project = make_building().project
    client.force_login(consultant)

    answer = client.post(
        reverse("sales:deposit-take", args=[project.pk]) + f"?customer={pool_owner.pk}",
        {
            "customer": pool_owner.pk,
            "receipt_number": "R1",
            "amount": "1000",
            "method": "cash",
            "paid_on": "2026-01-01",
        },
    )

    assert answer.status_code == 200
    assert not IntentDeposit.objects.filter(customer=pool_owner).exists()


def test_a_pool_customer_is_not_linked_as_a_co_buyer(
    client, consultant, own_customer, pool_customer
):
    client.force_login(consultant)

    answer = client.post(
        reverse("customers:household-link", args=[own_customer.pk]),
        {"phone": pool_customer.mobile, "role": "spouse"},
        follow=True,
    )

    assert "公海客户请先认领" in answer.content.decode()
    pool_customer.refresh_from_db()
    assert pool_customer.household_id is None
