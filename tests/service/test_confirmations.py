"""Closing a request asks first: whose request, what the callback found, and whether
the satisfaction survey reaches the owner; the message after says where it went."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from service import services
from service.models import ServiceRequest, SurveyInvitation

EN = {"accept-language": "en"}


@pytest.fixture
def called_back(service_agent, owner_customer):
    request = services.request_create(
        actor=service_agent,
        customer=owner_customer,
        kind="complaint",
        category="plumbing",
        severity="high",
        channel="phone",
        description="卫生间漏水",
    )
    services.request_start(actor=service_agent, request=request)
    services.request_resolve(actor=service_agent, request=request, note="修好了")
    services.request_callback(
        actor=service_agent, request=request, satisfied=True, note="业主满意"
    )
    return request


def test_closing_unconfirmed_shows_the_owner_callback_and_survey_and_changes_nothing(
    client, called_back, service_agent, owner_customer
):
    client.force_login(service_agent)
    url = reverse("service:request-close", args=[called_back.pk])
    response = client.post(url, headers=EN)
    assert response.status_code == 200
    facts = dict(response.context["confirmation"].facts)
    assert facts["Owner"] == owner_customer.name
    assert facts["Callback"] == "owner satisfied · 业主满意"
    assert facts["Satisfaction survey"] == "sent by SMS"
    called_back.refresh_from_db()
    assert called_back.status == ServiceRequest.Status.CALLED_BACK
    assert not SurveyInvitation.objects.exists()

    response = client.post(url, {"confirmed": "1"}, headers=EN)
    called_back.refresh_from_db()
    assert called_back.status == ServiceRequest.Status.CLOSED
    said = " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert f"Request {called_back.number} closed" in said
    assert f"goes to {owner_customer.name} by SMS" in said


def test_closing_says_no_survey_goes_to_an_owner_who_refused_service_contact(
    client, called_back, service_agent, owner_customer
):
    owner_customer.consent_service = False
    owner_customer.save(update_fields=["consent_service"])
    client.force_login(service_agent)
    response = client.post(
        reverse("service:request-close", args=[called_back.pk]), headers=EN
    )
    assert "none: the owner cannot be reached" in response.content.decode()


def test_the_request_page_carries_the_close_dialog(client, called_back, service_agent):
    client.force_login(service_agent)
    page = client.get(
        reverse("service:request-detail", args=[called_back.pk])
    ).content.decode()
    assert 'data-confirm-dialog="confirm-close"' in page
    assert '<dialog class="confirm-dialog" id="confirm-close"' in page
