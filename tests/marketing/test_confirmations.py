"""Sending invitations and cancelling a campaign ask first. The confirmation counts
the recipients with the send's own filter (consent, address, not invited yet): the
number asked is the number queued."""

from __future__ import annotations

from unittest import mock

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from marketing import selectors, services
from marketing.models import Campaign, Invitation
from tests.factories import CustomerFactory

EN = {"accept-language": "en"}


@pytest.fixture
def mixed(campaign, marketer):
    """Four members (a customer without any marketing consent is no member): e-mail
    only, SMS only, both, e-mail consent without an address. The campaign invites by
    e-mail and SMS."""
    CustomerFactory(email="a@example.com", consent_email=True, consent_sms=False)
    CustomerFactory(email="", consent_sms=True)
    CustomerFactory(email="c@example.com", consent_email=True, consent_sms=True)
    CustomerFactory(email="d@example.com", consent_email=False, consent_sms=False)
    CustomerFactory(email="", consent_email=True, consent_sms=False)
    return services.campaign_move(
        actor=marketer, campaign=campaign, status=Campaign.Status.RUNNING
    )


def _said(response) -> str:
    return " ".join(str(m) for m in get_messages(response.wsgi_request))


def test_the_preview_counts_what_the_send_queues(mixed, marketer):
    preview = selectors.invitations_preview(campaign=mixed)
    assert preview.members == 4
    assert preview.by_channel == {"email": 2, "sms": 2}
    assert (preview.messages, preview.customers) == (4, 3)
    with mock.patch("marketing.tasks.invitations_send.delay"):
        added = services.invitations_queue(actor=marketer, campaign=mixed)
    assert added == preview.messages == Invitation.objects.count()
    assert Invitation.objects.values("member").distinct().count() == preview.customers
    after = selectors.invitations_preview(campaign=mixed)
    assert (after.messages, after.customers) == (0, 0)


def test_sending_unconfirmed_shows_the_recipient_count_and_queues_nothing(
    client, mixed, marketer
):
    # One member unsubscribes from SMS before the send: no longer counted.
    customer = mixed.members.get(customer__email="c@example.com").customer
    customer.consent_sms = False
    customer.save(update_fields=["consent_sms"])
    client.force_login(marketer)
    url = reverse("marketing:campaign-send", args=[mixed.pk])
    response = client.post(url, headers=EN)
    assert response.status_code == 200
    confirmation = response.context["confirmation"]
    assert confirmation.title == "Send 3 invitations?"
    facts = dict(confirmation.facts)
    assert facts["Customers who receive it"] == "3"
    assert facts["Messages by E-mail"] == "2"
    assert facts["Messages by SMS"] == "1"
    assert facts["Members"] == "4"
    assert not Invitation.objects.exists()

    with mock.patch("marketing.tasks.invitations_send.delay"):
        response = client.post(url, {"confirmed": "1"}, headers=EN)
    assert Invitation.objects.count() == 3
    said = _said(response)
    assert "3 invitations queued for 3 customers" in said
    assert "within about 1 min" in said


def test_a_second_send_asks_with_nobody_left_and_queues_nothing(
    client, mixed, marketer
):
    client.force_login(marketer)
    url = reverse("marketing:campaign-send", args=[mixed.pk])
    with mock.patch("marketing.tasks.invitations_send.delay"):
        client.post(url, {"confirmed": "1"})
        response = client.post(url, headers=EN)
        assert "Nobody is left to invite" in response.content.decode()
        response = client.post(url, {"confirmed": "1"}, headers=EN)
    assert Invitation.objects.count() == 4
    assert "No invitation queued" in _said(response)


def test_the_campaign_page_carries_the_send_and_cancel_dialogs(client, mixed, marketer):
    client.force_login(marketer)
    page = client.get(
        reverse("marketing:campaign-detail", args=[mixed.pk]), headers=EN
    ).content.decode()
    assert 'data-confirm-dialog="confirm-send"' in page
    assert 'data-confirm-dialog="confirm-cancel"' in page
    assert "Send 4 invitations?" in page


def test_cancelling_asks_with_the_queued_count_then_withdraws_them(
    client, mixed, marketer
):
    with mock.patch("marketing.tasks.invitations_send.delay"):
        services.invitations_queue(actor=marketer, campaign=mixed)
    client.force_login(marketer)
    url = reverse("marketing:campaign-move", args=[mixed.pk, "cancelled"])
    response = client.post(url, headers=EN)
    facts = dict(response.context["confirmation"].facts)
    assert facts["Invitations still queued"] == "4"
    mixed.refresh_from_db()
    assert mixed.status == Campaign.Status.RUNNING

    response = client.post(url, {"confirmed": "1"}, headers=EN)
    mixed.refresh_from_db()
    assert mixed.status == Campaign.Status.CANCELLED
    assert "4 queued invitations withdrawn, 0 had been sent" in _said(response)


def test_finishing_a_campaign_does_not_ask(client, mixed, marketer):
    client.force_login(marketer)
    client.post(reverse("marketing:campaign-move", args=[mixed.pk, "finished"]))
    mixed.refresh_from_db()
    assert mixed.status == Campaign.Status.FINISHED
