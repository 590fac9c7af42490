"""Review 5 of marketing: a co-buyer referred as a new friend, a staff correction
taking a member's points below zero, and a broker credited with a deal opened before
their registration."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from marketing.models import (
    ClubMember,
    Commission,
    PointEntry,
    Recommendation,
    Referral,
)
from marketing.services.club import members_enrol, points_correct
from marketing.services.partners import partner_registration_create
from marketing.services.referrals import referral_create, referral_from_owner
from sales import services as sales_services
from sales.models import Opportunity, Registration
from sales.services.ownership import registration_reassign, registrations_sweep
from tests.factories import CustomerFactory, register_at

# Referrals: whoever already bought is declined, a co-buyer as the buyer ------------


@pytest.mark.parametrize("stage", ["subscribed", "contracted"])
def test_the_desk_refuses_to_refer_a_co_buyer_of_a_deal_bought(
    owner_customer, owner_household, consultant, stage
):
    """A co-buyer of a subscribed or signed deal owns the unit with its buyer: there
    is nobody left to bring, and the referrer would earn a reward on the contract."""
    if stage == "contracted":
        sales_services.opportunity_contract(
            actor=consultant, opportunity=owner_household.deal
        )
    with pytest.raises(ValidationError):
        referral_create(
            actor=consultant,
            referrer=owner_customer,
            friend=owner_household.co_buyer,
            project=None,
        )
    assert not Referral.objects.exists()


def test_the_desk_refuses_to_refer_the_buyer_of_a_subscribed_deal(
    owner_customer, owner_household, consultant
):
    """The same notion of a buyer for the buyer (sales.services.ownership's
    BUYER_STAGES): a subscription is a purchase already made."""
    with pytest.raises(ValidationError):
        referral_create(
            actor=consultant,
            referrer=owner_customer,
            friend=owner_household.buyer,
            project=None,
        )
    assert not Referral.objects.exists()


@pytest.mark.parametrize("stage", ["subscribed", "contracted"])
def test_an_owner_recommending_a_co_buyer_is_kept_declined(
    owner_customer, owner_household, consultant, stage
):
    if stage == "contracted":
        sales_services.opportunity_contract(
            actor=consultant, opportunity=owner_household.deal
        )
    recommendation = referral_from_owner(
        owner=owner_customer,
        friend_name="吴共买",
        friend_mobile=owner_household.co_buyer.mobile,
        friend_agreed=True,
    )
    assert recommendation.outcome == Recommendation.Outcome.ALREADY_SIGNED
    assert recommendation.referral is None
    assert not Referral.objects.exists()


def test_a_co_buyer_of_a_deal_still_open_may_be_referred(
    owner_customer, consultant, building
):
    """Named on a deal only reserved: nothing is bought yet."""
    from customers.services import household_link
    from sales.models import Unit
    from sales.services.co_buyers import deal_co_buyers_set

    buyer = CustomerFactory(assigned_consultant=consultant)
    co_buyer = CustomerFactory(assigned_consultant=consultant)
    household_link(actor=consultant, customer=buyer, other=co_buyer, role="spouse")
    deal = sales_services.opportunity_open(
        actor=consultant, customer=buyer, project=building.project
    )
    unit = Unit.objects.filter(building=building, status="available").first()
    sales_services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    deal_co_buyers_set(actor=consultant, deal=deal, customers=[co_buyer])
    referral = referral_create(
        actor=consultant, referrer=owner_customer, friend=co_buyer, project=None
    )
    assert referral.friend == co_buyer


# Points corrections never take a balance below zero -------------------------------


def _member(**fields):
    return CustomerFactory(stage="owner", consent_sms=True, **fields)


def test_a_correction_below_zero_is_refused_and_nothing_is_saved(marketer):
    member = _member()
    points_correct(actor=marketer, member=member, points=100, reason="开卡礼")
    with pytest.raises(ValidationError) as refused:
        points_correct(actor=marketer, member=member, points=-101, reason="多发")
    assert "points" in refused.value.message_dict
    assert PointEntry.objects.filter(member=member).count() == 1
    assert ClubMember.objects.get(customer=member).balance == 100
    # Down to zero is fine.
    points_correct(actor=marketer, member=member, points=-100, reason="多发")
    assert ClubMember.objects.get(customer=member).balance == 0


def test_a_new_member_without_points_cannot_be_corrected_below_zero(marketer):
    member = _member()
    with pytest.raises(ValidationError):
        points_correct(actor=marketer, member=member, points=-1, reason="扣分")
    assert not PointEntry.objects.exists()


def test_the_ledger_page_shows_the_refusal_next_to_the_points(client, marketer):
    member = _member()
    members_enrol()
    points_correct(actor=marketer, member=member, points=30, reason="开卡礼")
    client.force_login(marketer)
    response = client.post(
        reverse("marketing:club-correct", args=[member.pk]),
        {"points": "-50", "reason": "多发"},
    )
    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors.get("points") and not form.non_field_errors()
    assert ClubMember.objects.get(customer=member).balance == 30


@pytest.mark.django_db(transaction=True)
def test_two_corrections_at_once_never_take_the_balance_below_zero(marketer):
    member = _member()
    points_correct(actor=marketer, member=member, points=100, reason="开卡礼")
    barrier = threading.Barrier(2)
    refused: list[BaseException] = []
    errors: list[BaseException] = []

    def correct() -> None:
        try:
            barrier.wait()
            points_correct(actor=marketer, member=member, points=-80, reason="并发扣分")
        except ValidationError as exc:
            refused.append(exc)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=correct) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len(refused) == 1
    assert ClubMember.objects.get(customer=member).balance == 20
    assert PointEntry.objects.filter(member=member).count() == 2


# Partner commission: a deal opened before the broker's registration ----------------


def test_no_commission_on_a_deal_opened_before_the_brokers_registration(
    broker, partner, project, consultant, sales_manager, sign
):
    """The consultant's customer reserved a unit; their protection lapsed (a
    reservation does not protect), a broker registered the customer, the manager
    handed them back to the consultant and the deal was signed: the broker did not
    bring that deal."""
    customer = CustomerFactory(mobile="+8613911112222", assigned_consultant=consultant)
    register_at(customer, consultant, project, days_ago=1)
    deal = sign(customer, consultant, stage=Opportunity.Stage.RESERVED)
    registrations_sweep(now=timezone.now() + timedelta(days=400))
    assert not Registration.objects.filter(status="protected").exists()
    link = partner_registration_create(
        broker=broker,
        partner=partner,
        project=project,
        name="冯一",
        mobile=customer.mobile,
    )
    assert link.created_at > deal.created_at
    registration_reassign(
        actor=sales_manager,
        registration=link.registration,
        consultant=consultant,
        reason="到访后转给置业顾问",
    )
    deal.refresh_from_db()
    sales_services.unit_subscribe(actor=consultant, opportunity=deal)
    sales_services.opportunity_contract(actor=consultant, opportunity=deal)
    assert not Commission.objects.exists()


def test_a_deal_opened_after_the_brokers_registration_still_earns(
    broker, partner, project, consultant, sales_manager, sign
):
    link = partner_registration_create(
        broker=broker,
        partner=partner,
        project=project,
        name="冯一",
        mobile="+8613911112222",
    )
    registration_reassign(
        actor=sales_manager,
        registration=link.registration,
        consultant=consultant,
        reason="到访后转给置业顾问",
    )
    deal = sign(link.customer, consultant)
    assert Commission.objects.get().opportunity == deal
