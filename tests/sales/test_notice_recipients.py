"""Who hears about a deal after it moved to another consultant: whoever works it now,
never a colleague who no longer sees it, never someone who has left."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from crm_site.models import Notification
from crm_site.notifications import ABOUT_KEY
from crm_site.roles import Role
from marketing.services.referrals import referral_create
from sales import confirmations, services
from sales.models import DealChange, Opportunity, Registration, UnitHold
from sales.services import ownership
from tests.factories import CustomerFactory, UserFactory, make_building, register_at

pytestmark = pytest.mark.django_db


@pytest.fixture
def building(db):
    return make_building()


def _reassign(customer, project, manager, to) -> None:
    """The manager moves the protected customer (and their open deal) to ``to``."""
    ownership.registration_reassign(
        actor=manager,
        registration=Registration.objects.get(
            customer=customer, project=project, status=Registration.Status.PROTECTED
        ),
        consultant=to,
        reason="李娜调岗",
    )


@pytest.fixture
def held(building, consultant, own_customer):
    """A deal of the consultant holding a unit, at a project the customer is
    registered at (so a manager can reassign them)."""
    register_at(own_customer, consultant, building.project)
    deal = services.opportunity_open(
        actor=consultant, customer=own_customer, project=building.project
    )
    unit = building.units.filter(status="available").first()
    services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    deal.refresh_from_db()
    return deal


def _expire(deal) -> None:
    hold = UnitHold.objects.get(opportunity=deal, status=UnitHold.Status.ACTIVE)
    services.holds_expire(now=hold.held_until + timedelta(seconds=1))


def test_an_expired_hold_is_told_to_whoever_works_the_deal_now_not_the_former_consultant(
    client, held, consultant, other_consultant, sales_manager, own_customer
):
    _reassign(own_customer, held.project, sales_manager, other_consultant)
    Notification.objects.all().delete()
    _expire(held)
    client.force_login(consultant)
    assert client.get(held.get_absolute_url()).status_code == 404
    assert not Notification.objects.filter(user=consultant).exists()
    told = Notification.objects.get(user=other_consultant)
    assert told.url == held.get_absolute_url()
    assert told.params[ABOUT_KEY] == [own_customer.pk]


def test_an_expired_hold_of_a_consultant_who_left_tells_nobody(held, consultant):
    consultant.is_active = False
    consultant.save(update_fields=["is_active"])
    Notification.objects.all().delete()
    _expire(held)
    assert not Notification.objects.exists()


def test_an_expired_hold_is_still_told_to_the_consultant_who_works_the_deal(
    held, consultant
):
    Notification.objects.all().delete()
    _expire(held)
    assert Notification.objects.get().user == consultant


@pytest.mark.parametrize("approve", [True, False])
def test_a_discount_decision_after_a_reassignment_is_told_to_the_new_consultant(
    held, consultant, other_consultant, sales_manager, own_customer, approve
):
    request = services.discount_request(
        actor=consultant, opportunity=held, percent=Decimal("3"), reason="团购"
    )
    _reassign(own_customer, held.project, sales_manager, other_consultant)
    Notification.objects.all().delete()
    services.discount_decide(actor=sales_manager, request=request, approve=approve)
    assert not Notification.objects.filter(user=consultant).exists()
    told = Notification.objects.get(user=other_consultant)
    assert told.url == held.get_absolute_url()
    assert told.params[ABOUT_KEY] == [own_customer.pk]
    # The manager's confirmation names who was told.
    request.refresh_from_db()
    message = confirmations.discount_decided(request, approved=approve)
    assert other_consultant.display_name in message
    assert consultant.display_name not in message


def test_a_discount_decision_is_told_to_the_requester_who_still_sees_the_deal(
    held, consultant, sales_manager, own_customer
):
    request = services.discount_request(
        actor=consultant, opportunity=held, percent=Decimal("3"), reason="团购"
    )
    Notification.objects.all().delete()
    services.discount_decide(actor=sales_manager, request=request, approve=False)
    told = Notification.objects.get()
    assert told.user == consultant
    assert told.params[ABOUT_KEY] == [own_customer.pk]


@pytest.fixture
def subscribed(held, consultant):
    services.unit_subscribe(actor=consultant, opportunity=held)
    held.refresh_from_db()
    return held


@pytest.mark.parametrize("approve", [True, False])
def test_a_change_decision_after_a_reassignment_is_told_to_the_new_consultant(
    subscribed, consultant, other_consultant, sales_manager, own_customer, approve
):
    change = services.deal_change_request(
        actor=consultant, opportunity=subscribed, kind="cancel", reason="客户资金问题"
    )
    _reassign(own_customer, subscribed.project, sales_manager, other_consultant)
    Notification.objects.all().delete()
    services.deal_change_decide(actor=sales_manager, change=change, approve=approve)
    assert not Notification.objects.filter(user=consultant).exists()
    told = Notification.objects.get(user=other_consultant)
    assert told.url == subscribed.get_absolute_url()
    if not approve:
        # The refusal names the buyer.
        assert told.params[ABOUT_KEY] == [own_customer.pk]
    change.refresh_from_db()
    message = confirmations.change_decided(change, approved=approve)
    assert other_consultant.display_name in message
    assert consultant.display_name not in message


def test_a_change_decision_for_a_requester_who_left_goes_to_the_deals_consultant(
    subscribed, consultant, sales_manager
):
    """A manager asked on the consultant's behalf and has left since."""
    asked_by = UserFactory(
        username="manager_who_left", team=sales_manager.team, role=Role.SALES_MANAGER
    )
    change = services.deal_change_request(
        actor=consultant, opportunity=subscribed, kind="cancel", reason="客户资金问题"
    )
    DealChange.objects.filter(pk=change.pk).update(requested_by=asked_by)
    asked_by.is_active = False
    asked_by.save(update_fields=["is_active"])
    change.refresh_from_db()
    Notification.objects.all().delete()
    services.deal_change_decide(actor=sales_manager, change=change, approve=False)
    assert list(Notification.objects.values_list("user", flat=True)) == [consultant.pk]


def test_a_reward_due_whose_recorder_left_is_told_to_the_referrers_consultant(
    building, consultant, other_consultant, owner_customer
):
    """marketing.services.referrals.reward_on_contract: the referral's recorder has
    left; the owner's consultant hears the reward is due."""
    friend = CustomerFactory(name="吴九", assigned_consultant=consultant)
    referral_create(
        actor=consultant, referrer=owner_customer, friend=friend, project=None
    )
    consultant.is_active = False
    consultant.save(update_fields=["is_active"])
    Notification.objects.all().delete()
    deal = services.opportunity_open(
        actor=consultant, customer=friend, project=building.project
    )
    unit = building.units.filter(status="available").first()
    services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    services.unit_subscribe(actor=consultant, opportunity=deal)
    services.opportunity_contract(actor=consultant, opportunity=deal)
    assert Opportunity.objects.get(pk=deal.pk).stage == Opportunity.Stage.CONTRACTED
    told = Notification.objects.filter(event="marketing.reward_due_notice")
    assert [n.user for n in told] == [other_consultant]
