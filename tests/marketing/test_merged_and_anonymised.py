"""Marketing's doors after a merge or an anonymisation: no message to a record merged
away, an unsubscribe reaching the live record, an anonymised person's old sign-up
link dead; and what a partner's broker sees of a number the CRM knew before."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from customers.services.merge import customer_merge
from customers.services.personal_data import customer_anonymise
from marketing import services
from marketing.models import Invitation, Response
from marketing.services.invitations import SIGNUP_SALT, UNSUBSCRIBE_SALT, public_token
from marketing.services.partners import partner_registration_create
from sales import services as sales_services
from sales.models import Opportunity
from sales.services.ownership import registrations_sweep
from tests.factories import CustomerFactory, register_at

pytestmark = pytest.mark.django_db


def _running(campaign, marketer) -> None:
    services.campaign_move(actor=marketer, campaign=campaign, status="running")
    with mock.patch("marketing.tasks.invitations_send.delay"):
        services.invitations_queue(actor=marketer, campaign=campaign)


@pytest.fixture
def twins():
    survivor = CustomerFactory(
        name="王五", mobile="+8613800000001", email="", consent_sms=True
    )
    twin = CustomerFactory(
        name="王五", mobile="+8613800000002", email="", consent_sms=True
    )
    return survivor, twin


def test_a_record_merged_away_is_not_messaged(
    campaign, marketer, sales_manager, outboxes, twins
):
    survivor, twin = twins
    _running(campaign, marketer)
    customer_merge(actor=sales_manager, survivor=survivor, absorbed=twin, choices={})

    services.invitations_send(campaign_id=campaign.pk)

    statuses = dict(Invitation.objects.values_list("member__customer_id", "status"))
    assert statuses[survivor.pk] == "sent"
    assert statuses[twin.pk] != "sent"


def test_an_unsubscribe_from_before_a_merge_reaches_the_live_record(
    campaign, marketer, sales_manager, outboxes, twins
):
    survivor, twin = twins
    _running(campaign, marketer)
    services.invitations_send(campaign_id=campaign.pk)
    sent_to_twin = Invitation.objects.get(member__customer=twin)
    customer_merge(actor=sales_manager, survivor=survivor, absorbed=twin, choices={})

    answer = Client().post(
        reverse(
            "marketing:unsubscribe",
            args=[public_token(sent_to_twin, UNSUBSCRIBE_SALT)],
        )
    )

    assert answer.status_code == 200
    survivor.refresh_from_db()
    assert survivor.consent_sms is False


def test_an_anonymised_persons_old_sign_up_link_is_dead(
    campaign, marketer, administrator, outboxes
):
    person = CustomerFactory(
        name="赵六", mobile="+8613800000009", email="", consent_sms=True
    )
    _running(campaign, marketer)
    services.invitations_send(campaign_id=campaign.pk)
    invitation = Invitation.objects.get()
    customer_anonymise(
        actor=administrator, customer=person, reference="PIPL-1", reason="request"
    )
    url = reverse(
        "marketing:public-signup", args=[public_token(invitation, SIGNUP_SALT)]
    )

    page = Client().get(url)
    posted = Client().post(url)

    assert page.status_code == posted.status_code
    assert person.name not in page.content.decode()
    assert not Response.objects.filter(member__customer=person).exists()
    assert not Opportunity.objects.filter(customer=person).exists()


def test_a_broker_sees_neither_an_earlier_deal_nor_the_crms_name(
    client, broker, partner, project, consultant, sales_manager, own_customer, sign
):
    """The number was a customer whose deal was lost and whose protection lapsed; the
    broker registers it: their portal must not tell them it was known."""
    register_at(own_customer, consultant, project)
    deal = sales_services.opportunity_open(
        actor=consultant, customer=own_customer, project=project
    )
    deal.move_to(
        Opportunity.Stage.LOST, actor=consultant, reason=Opportunity.LostReason.OTHER
    )
    registrations_sweep(now=timezone.now() + timedelta(days=400))
    link = partner_registration_create(
        broker=broker,
        partner=partner,
        project=project,
        name="某先生",
        mobile=own_customer.mobile,
    )
    client.force_login(broker)

    assert "deal-lost" not in client.get(reverse("marketing:portal")).content.decode()

    from sales.services.ownership import registration_reassign

    registration_reassign(
        actor=sales_manager,
        registration=link.registration,
        consultant=consultant,
        reason="到访",
    )
    sign(own_customer, consultant)
    page = client.get(reverse("marketing:portal-commissions")).content.decode()
    assert own_customer.name not in page and "某先生" in page
