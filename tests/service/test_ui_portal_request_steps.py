"""The first step of a portal request's progress names who sent it: "you" to the
owner who did, their name to the rest of the household (service.portal_requests
.owner_steps and the portal's request page)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import translation

from service import portal_requests
from service.models import ServiceRequest
from tests.portal_fixtures import owner_client_for

pytestmark = pytest.mark.django_db


def _sent_by_co_buyer(owner_household) -> ServiceRequest:
    household = frozenset({owner_household.buyer.pk, owner_household.co_buyer.pk})
    return portal_requests.portal_request_submit(
        owner=owner_household.co_buyer,
        household_ids=household,
        unit=owner_household.unit,
        kind="repair",
        category="plumbing",
        description="卫生间漏水",
    )


def _steps_text(response) -> str:
    body = response.content.decode()
    start = body.index('data-testid="portal-steps"')
    return body[start : body.index("</ol>", start)]


def test_the_household_member_who_did_not_send_it_reads_who_sent_it(
    owner_household,
):
    request = _sent_by_co_buyer(owner_household)
    client = owner_client_for(owner_household.buyer)
    response = client.get(reverse("service_portal:request-detail", args=[request.pk]))
    assert response.status_code == 200
    steps = _steps_text(response)
    assert "吴共买在线上提交" in steps
    assert "您在线上提交" not in steps


def test_the_owner_who_sent_it_reads_you_sent_it(owner_household):
    request = _sent_by_co_buyer(owner_household)
    client = owner_client_for(owner_household.co_buyer)
    response = client.get(reverse("service_portal:request-detail", args=[request.pk]))
    assert response.status_code == 200
    steps = _steps_text(response)
    assert "您在线上提交" in steps
    assert "吴共买在线上提交" not in steps


def test_owner_steps_name_the_sender_to_another_reader_in_english(owner_household):
    request = _sent_by_co_buyer(owner_household)
    with translation.override("en"):
        other = portal_requests.owner_steps(request, reader_id=owner_household.buyer.pk)
        own = portal_requests.owner_steps(
            request, reader_id=owner_household.co_buyer.pk
        )
    assert other[0].words == "吴共买 sent it in the portal"
    assert own[0].words == "You sent it in the portal"
