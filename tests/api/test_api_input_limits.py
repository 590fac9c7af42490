"""Bad input to the API is a clear 4xx problem, never a 500, and dates keep to the
house's range (crm_site.validation) as the forms do."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from crm_site.api.scopes import Scope
from customers.models import AgentExtension, Customer, Interaction

pytestmark = pytest.mark.django_db

ALL = [scope.value for scope in Scope]
PROBLEM = "application/problem+json"


def _cursor(position: str) -> str:
    """A cursor as DRF writes it (``p=<position>``), with a forged position."""
    return base64.b64encode(f"p={position}".encode()).decode()


def _fields(response) -> list[str]:
    return [error["field"] for error in response.json()["errors"]]


# Cursors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/customers/",
        "/api/v1/units/",
        "/api/v1/deals/",
        "/api/v1/service-requests/",
        "/api/v1/surveys/",
        "/api/v1/campaigns/",
    ],
)
@pytest.mark.parametrize("position", ["abc", "1.5", str(2**70)])
def test_a_forged_cursor_position_is_a_404_problem_not_a_500(
    api_client, administrator, url, position
):
    client = api_client(administrator, *ALL)
    response = client.get(url, {"cursor": _cursor(position)})
    assert response.status_code == 404, response.content
    assert response["Content-Type"].startswith(PROBLEM)


@pytest.mark.parametrize("position", ["abc", "2026-01-01 10:00:00", "0001-01-01"])
def test_a_forged_timeline_cursor_is_a_404_problem_not_a_500(
    api_client, administrator, own_customer, position
):
    """The timeline's cursor is a time: a word or a time without its zone is forged."""
    client = api_client(administrator, *ALL)
    response = client.get(
        "/api/v1/interactions/",
        {"customer": own_customer.pk, "cursor": _cursor(position)},
    )
    assert response.status_code == 404, response.content
    assert response["Content-Type"].startswith(PROBLEM)


def test_the_cursors_the_api_writes_still_page_through_the_timeline(
    api_client, administrator, own_customer
):
    now = timezone.now()
    for minutes in range(3):
        Interaction.objects.create(
            customer=own_customer,
            kind=Interaction.Kind.NOTE,
            summary=f"记录 {minutes}",
            occurred_at=now - timedelta(minutes=minutes),
        )
    client = api_client(administrator, *ALL)
    seen = []
    url = f"/api/v1/interactions/?customer={own_customer.pk}&page_size=1"
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        seen += [row["id"] for row in response.json()["results"]]
        url = response.json()["next"]
    assert len(seen) == 3 == len(set(seen))


# Datetimes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "body"),
    [
        (
            "/api/v1/interactions/",
            {"kind": "call_in", "summary": "旧电话", "occurred_at": "0001-01-01"},
        ),
        (
            "/api/v1/interactions/",
            {"kind": "call_in", "summary": "旧电话", "occurred_at": "0001-01-01T00:00"},
        ),
        (
            "/api/v1/telephony/calls/",
            {
                "event": "ringing",
                "call_id": "c-1",
                "caller": "13800138000",
                "extension": "801",
                "at": "0001-01-01T00:00:00",
            },
        ),
    ],
)
def test_a_datetime_in_the_year_1_is_a_422_not_a_500(
    api_client, administrator, own_customer, url, body
):
    client = api_client(administrator, *ALL)
    if url == "/api/v1/interactions/":
        body = {**body, "customer": own_customer.pk}
    response = client.post(url, body, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 422, response.content
    assert response["Content-Type"].startswith(PROBLEM)
    assert _fields(response) == ["occurred_at" if "occurred_at" in body else "at"]
    assert "between 1900-01-01 and 2099-12-31" in response.json()["detail"]


@pytest.mark.parametrize("since", ["0001-01-01", "1899-12-31T23:00:00+08:00"])
def test_surveys_since_before_1900_is_a_422_not_a_500(api_client, administrator, since):
    client = api_client(administrator, Scope.SURVEYS_READ)
    response = client.get("/api/v1/surveys/", {"since": since})
    assert response.status_code == 422, response.content
    assert response["Content-Type"].startswith(PROBLEM)
    assert _fields(response) == ["since"]


def test_surveys_since_a_date_in_range_still_filters(api_client, administrator):
    client = api_client(administrator, Scope.SURVEYS_READ)
    assert client.get("/api/v1/surveys/", {"since": "2026-01-01"}).status_code == 200


@pytest.mark.parametrize("occurred_at", ["0001-01-01T00:00:00Z", "1899-12-31T12:00Z"])
def test_an_interaction_before_1900_is_refused_as_the_forms_refuse_it(
    api_client, consultant, own_customer, occurred_at
):
    client = api_client(consultant, Scope.INTERACTIONS_WRITE)
    response = client.post(
        "/api/v1/interactions/",
        {
            "customer": own_customer.pk,
            "kind": "call_in",
            "summary": "旧电话",
            "occurred_at": occurred_at,
        },
        format="json",
    )
    assert response.status_code == 422, response.content
    assert not Interaction.objects.filter(customer=own_customer).exists()


def test_an_interaction_at_a_time_in_range_is_logged_at_that_time(
    api_client, consultant, own_customer
):
    client = api_client(consultant, Scope.INTERACTIONS_WRITE)
    response = client.post(
        "/api/v1/interactions/",
        {
            "customer": own_customer.pk,
            "kind": "call_in",
            "summary": "问价格",
            "occurred_at": "2026-03-01T10:00:00+08:00",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    logged = Interaction.objects.get(customer=own_customer)
    assert logged.occurred_at.isoformat() == "2026-03-01T02:00:00+00:00"


def test_a_call_event_in_the_year_1_changes_nothing(api_client, service_agent):
    AgentExtension.objects.create(extension="8001", user=service_agent)
    client = api_client(service_agent, Scope.TELEPHONY)
    response = client.post(
        "/api/v1/telephony/calls/",
        {
            "event": "ringing",
            "call_id": "c-old",
            "caller": "13800138000",
            "extension": "8001",
            "at": "0001-01-01T00:00:00Z",
        },
        format="json",
    )
    assert response.status_code == 422, response.content
    assert _fields(response) == ["at"]


# Bodies and query strings ---------------------------------------------------------


def test_a_deeply_nested_json_body_is_a_400_problem_not_a_500(
    api_client, administrator
):
    client = api_client(administrator, Scope.CUSTOMERS_WRITE)
    body = "[" * 50_000 + "]" * 50_000
    response = client.post(
        "/api/v1/customers/",
        body,
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400, response.status_code
    assert response["Content-Type"].startswith(PROBLEM)
    assert "nested too deeply" in response.json()["detail"]
    assert not Customer.objects.exists()


def test_a_nul_in_the_query_string_is_answered_as_a_problem(api_client, administrator):
    client = api_client(administrator, Scope.CUSTOMERS_READ)
    response = client.get(
        "/api/v1/customers/", {"q": "王\x00"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400
    assert response["Content-Type"].startswith(PROBLEM), response["Content-Type"]
    body = json.loads(response.content)
    assert body["status"] == 400
    assert body["type"].endswith("/invalid-characters")
    assert "NUL" in body["detail"]


def test_a_nul_in_a_page_s_query_string_still_gets_the_html_page(client, consultant):
    client.force_login(consultant)
    response = client.get("/customers/", {"q": "王\x00"})
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


# Keys a call does not take --------------------------------------------------------


def test_a_patch_of_a_field_the_api_does_not_take_is_refused_by_name(
    api_client, consultant, own_customer
):
    """An SMS gateway relaying an opt-out as ``consent_sms`` must not get a 200 while
    the consent stays given; nothing else in the call is changed either."""
    own_customer.consent_sms = True
    own_customer.save(update_fields=["consent_sms"])
    client = api_client(consultant, Scope.CUSTOMERS_WRITE)
    response = client.patch(
        f"/api/v1/customers/{own_customer.pk}/",
        {"consent_sms": False, "notes": "退订短信", "nickname": "小王"},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 422, response.content
    assert response["Content-Type"].startswith(PROBLEM)
    assert sorted(_fields(response)) == ["consent_sms", "nickname"]
    assert "does not take this field" in response.json()["detail"]
    own_customer.refresh_from_db()
    assert own_customer.consent_sms is True
    assert own_customer.notes != "退订短信"


def test_a_patch_of_the_fields_the_api_takes_still_changes_them(
    api_client, consultant, own_customer
):
    client = api_client(consultant, Scope.CUSTOMERS_WRITE)
    response = client.patch(
        f"/api/v1/customers/{own_customer.pk}/", {"notes": "周末看房"}, format="json"
    )
    assert response.status_code == 200, response.content
    own_customer.refresh_from_db()
    assert own_customer.notes == "周末看房"


def test_a_key_a_call_does_not_take_is_named_with_the_other_errors(
    api_client, consultant, own_customer
):
    client = api_client(consultant, Scope.INTERACTIONS_WRITE)
    response = client.post(
        "/api/v1/interactions/",
        {"customer": own_customer.pk, "kind": "call_in", "sumary": "typo"},
        format="json",
    )
    assert response.status_code == 422, response.content
    assert sorted(_fields(response)) == ["sumary", "summary"]
    assert not Interaction.objects.filter(customer=own_customer).exists()
