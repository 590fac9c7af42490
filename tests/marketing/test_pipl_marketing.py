"""Anonymising a customer clears what marketing holds about them wherever it is: the
name and number an owner typed when recommending them, the name a broker typed,
the audit entry of a reward that names them, and the rows a merge left on their
absorbed records."""

from __future__ import annotations

import pytest

from crm_site import personal_data
from crm_site.models import AuditEntry
from customers.models import Customer
from customers.services.merge import customer_merge
from customers.services.personal_data import customer_anonymise
from marketing.models import (
    CampaignMember,
    ClubMember,
    Invitation,
    PartnerRegistration,
    Referral,
    ReferralReward,
)
from marketing.services.partners import partner_registration_create
from marketing.services.referrals import referral_create, referral_from_owner
from tests.factories import CustomerFactory
from tests.marketing.conftest import make_campaign

pytestmark = pytest.mark.django_db

NAME = "欧阳明月"
MOBILE = "+8613912345678"


@pytest.fixture
def anonymise(administrator, django_capture_on_commit_callbacks):
    def run(customer):
        with django_capture_on_commit_callbacks(execute=True):
            customer_anonymise(
                actor=administrator,
                customer=customer,
                reference="MK-1",
                reason="本人要求",
            )

    return run


def _owner(consultant, name="周杰", mobile="+8613911112222"):
    return CustomerFactory(
        name=name,
        mobile=mobile,
        stage=Customer.Stage.OWNER,
        assigned_consultant=consultant,
    )


def test_anonymising_a_recommended_friend_clears_what_the_owners_typed_about_them(
    consultant, anonymise
):
    owner = _owner(consultant)
    accepted = referral_from_owner(
        owner=owner, friend_name=NAME, friend_mobile=MOBILE, friend_agreed=True
    )
    # A second owner recommends the same number: declined, the number kept.
    declined = referral_from_owner(
        owner=_owner(consultant, name="吴磊", mobile="+8613933334444"),
        friend_name="小欧",
        friend_mobile=MOBILE,
        friend_agreed=True,
    )
    assert declined.referral is None  # set-up
    someone_else = referral_from_owner(
        owner=owner,
        friend_name="冯一",
        friend_mobile="+8613955556666",
        friend_agreed=True,
    )

    anonymise(accepted.referral.friend)

    for recommendation in (accepted, declined):
        recommendation.refresh_from_db()
        assert (recommendation.name_given, recommendation.mobile_given) == ("", "")
    someone_else.refresh_from_db()
    assert (someone_else.name_given, someone_else.mobile_given) == (
        "冯一",
        "+8613955556666",
    )


def test_anonymising_clears_the_name_the_broker_typed_and_keeps_the_registration(
    broker, partner, project, anonymise
):
    link = partner_registration_create(
        broker=broker, partner=partner, project=project, name=NAME, mobile=MOBILE
    )

    anonymise(link.customer)

    link.refresh_from_db()
    assert link.name_given == ""
    assert PartnerRegistration.objects.filter(customer=link.customer).count() == 1


def test_anonymising_the_friend_scrubs_the_audit_entry_of_the_referrers_reward(
    consultant, project, sign, anonymise
):
    friend = CustomerFactory(name=NAME, mobile=MOBILE, assigned_consultant=consultant)
    referral_create(
        actor=consultant, referrer=_owner(consultant), friend=friend, project=project
    )
    sign(friend, consultant)
    reward = ReferralReward.objects.get()
    assert AuditEntry.objects.filter(
        object_id=reward.pk, object_repr__contains=NAME
    ).exists()  # set-up
    assert (
        reward.pk in personal_data.related_objects(friend)["marketing.referralreward"]
    )

    anonymise(friend)

    assert not AuditEntry.objects.filter(object_repr__contains=NAME).exists()
    assert ReferralReward.objects.filter(pk=reward.pk).exists()  # accounting record


def _twins(consultant):
    survivor = CustomerFactory(name=NAME, mobile=MOBILE, assigned_consultant=consultant)
    absorbed = CustomerFactory(
        name=NAME, mobile="+8613977778888", assigned_consultant=consultant
    )
    return survivor, absorbed


def test_anonymising_a_survivor_clears_the_referral_its_absorbed_record_kept(
    consultant, sales_manager, anonymise
):
    survivor, absorbed = _twins(consultant)
    Referral.objects.create(
        referrer=CustomerFactory(name="周杰"), friend=survivor, recorded_by=consultant
    )
    kept = Referral.objects.create(
        referrer=CustomerFactory(name="吴磊"),
        friend=absorbed,
        name_given=NAME,
        note=f"{NAME} 的同事",
        recorded_by=consultant,
    )
    customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
    )
    kept.refresh_from_db()
    assert kept.friend_id == absorbed.pk  # the declared rule: it stays where it was
    assert personal_data.section("marketing.referrals").count(survivor) == 2

    anonymise(survivor)

    kept.refresh_from_db()
    assert (kept.name_given, kept.note) == ("", "")


def test_the_campaign_and_club_rows_a_merge_kept_are_the_survivors_too(
    consultant, sales_manager, marketer, project, anonymise
):
    survivor, absorbed = _twins(consultant)
    campaign = make_campaign(marketer, project)
    for customer in (survivor, absorbed):
        member = CampaignMember.objects.create(campaign=campaign, customer=customer)
        Invitation.objects.create(
            campaign=campaign, member=member, channel=Invitation.Channel.SMS
        )
    ClubMember.objects.create(customer=absorbed)
    customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
    )
    # One membership per campaign: the absorbed record's stays where it was.
    assert CampaignMember.objects.filter(customer=absorbed).exists()

    assert personal_data.section("marketing.members").count(survivor) == 2
    assert personal_data.section("marketing.invitations").count(survivor) == 2
    assert personal_data.section("marketing.club").retained(survivor) == {"points": 1}

    anonymise(survivor)

    assert set(Invitation.objects.values_list("status", flat=True)) == {
        Invitation.Status.WITHDRAWN
    }
