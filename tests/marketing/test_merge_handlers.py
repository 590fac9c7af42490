from __future__ import annotations

from customers.services.merge import customer_merge, customer_merge_restore
from marketing.models import PartnerRegistration, Referral
from marketing.services.partners import partner_registration_create
from marketing.services.referrals import referral_create
from tests.factories import CustomerFactory


def test_referrals_and_partner_registrations_follow_a_merge_and_come_back(
    consultant, sales_manager, broker, partner, project
):
    owner = CustomerFactory(stage="owner", assigned_consultant=consultant)
    owner_twin = CustomerFactory(stage="owner", assigned_consultant=consultant)
    link = partner_registration_create(
        broker=broker,
        partner=partner,
        project=project,
        name="冯一",
        mobile="+8613911112222",
    )
    friend_twin = CustomerFactory(assigned_consultant=consultant)
    made = referral_create(
        actor=consultant, referrer=owner_twin, friend=link.customer, project=None
    )
    record = customer_merge(
        actor=sales_manager, survivor=owner, absorbed=owner_twin, choices={}
    )
    assert Referral.objects.get(pk=made.pk).referrer == owner
    second = customer_merge(
        actor=sales_manager, survivor=friend_twin, absorbed=link.customer, choices={}
    )
    assert Referral.objects.get(pk=made.pk).friend == friend_twin
    assert PartnerRegistration.objects.get(pk=link.pk).customer == friend_twin
    customer_merge_restore(actor=sales_manager, record=second)
    customer_merge_restore(actor=sales_manager, record=record)
    made.refresh_from_db()
    assert (made.referrer, made.friend) == (owner_twin, link.customer)
    assert PartnerRegistration.objects.get(pk=link.pk).customer == link.customer
