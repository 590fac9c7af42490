"""The call-centre screen pop (来电弹屏): the telephony endpoint, the push to the
agent's event stream (real Redis), the card, and the call on the timeline."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm_site import live
from crm_site.api.scopes import Scope
from crm_site.roles import Role
from customers import events as customer_events
from customers import services, telephony
from customers.models import AgentExtension, Call, ContactPoint, Customer, Interaction
from customers.services import telephony as call_services
from customers.services.merge import customer_merge
from sales.models import Opportunity
from service import services as service_services
from tests.factories import CustomerFactory, UserFactory, make_building
from tests.helpers import count_queries

pytestmark = pytest.mark.django_db

URL = "/api/v1/telephony/calls/"


@pytest.fixture(autouse=True)
def _clean_redis(settings):
    """Each test starts with no recent events kept for replay."""
    client = telephony._client()
    for key in client.scan_iter(f"{telephony._prefix()}:*"):
        client.delete(key)


@pytest.fixture
def agent(service_agent):
    AgentExtension.objects.create(extension="8001", user=service_agent)
    return service_agent


@pytest.fixture
def switch(api_client, service_agent):
    """The telephony system's key: it acts as a service desk user."""
    return api_client(service_agent, Scope.TELEPHONY)


@pytest.fixture
def owner(other_consultant):
    building = make_building(floors=1, per_floor=1, skipped=())
    unit = building.units.get()
    customer = CustomerFactory(
        name="周大福",
        mobile="+8613512345678",
        stage=Customer.Stage.OWNER,
        assigned_consultant=other_consultant,
    )
    Opportunity.objects.create(
        customer=customer,
        project=building.project,
        unit=unit,
        consultant=other_consultant,
        stage=Opportunity.Stage.CONTRACTED,
    )
    customer.unit = unit
    return customer


def post(client, event, call_id="c-1", caller="135 1234 5678", extension="8001", **kw):
    return client.post(
        URL,
        {"event": event, "call_id": call_id, "caller": caller, "extension": extension}
        | kw,
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )


def recent(user) -> list[dict]:
    entries = telephony._client().xrange(telephony.recent_key(user.pk))
    return [json.loads(fields[b"data"])["data"] for _id, fields in entries]


# The endpoint --------------------------------------------------------------------


def test_a_key_without_the_telephony_scope_is_refused(api_client, agent, owner):
    client = api_client(agent, Scope.CUSTOMERS_READ)
    response = post(client, "ringing")
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert not Call.objects.exists()


def test_a_key_acting_as_a_user_who_may_not_log_calls_is_refused(
    api_client, agent, marketer
):
    response = post(api_client(marketer, Scope.TELEPHONY), "ringing")
    assert response.status_code == 403
    assert not Call.objects.exists()


def test_an_unknown_extension_is_a_422_problem_and_records_nothing(switch, agent):
    response = post(switch, "ringing", extension="9999")
    assert response.status_code == 422
    body = response.json()
    assert body["status"] == 422
    assert body["type"].endswith("/unknown-extension")
    assert "extension" in body["detail"]
    assert not Call.objects.exists()


def test_a_bad_event_is_a_field_error(switch, agent):
    response = post(switch, "hung-up")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "event"
    assert not Call.objects.exists()


@pytest.mark.parametrize(
    "caller", ["135 1234 5678", "+86 135-1234-5678", "8613512345678", "13512345678"]
)
def test_the_caller_is_matched_by_any_phone_format(
    switch, agent, owner, caller, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(switch, "ringing", caller=caller)
    assert response.status_code == 201
    assert response.json()["status"] == "ringing"
    call = Call.objects.get()
    assert call.caller == "+8613512345678"
    assert call.customer == owner
    assert call.agent == agent


def test_a_caller_matched_by_a_further_contact(switch, agent, owner):
    other = CustomerFactory(name="孙丽")
    ContactPoint.objects.create(customer=other, kind="landline", value="+862088886666")
    post(switch, "ringing", caller="020 8888 6666")
    assert Call.objects.get().customer == other


def test_each_event_counts_once_per_call(
    switch, agent, owner, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = post(switch, "ringing")
        again = post(switch, "ringing")
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["applied"] is False
    assert Call.objects.count() == 1
    # Pushed once: the agent's card does not pop twice.
    assert [e["event"] for e in recent(agent)] == ["ringing"]


def test_a_call_rung_at_one_extension_cannot_be_moved_to_another(
    switch, agent, consultant
):
    AgentExtension.objects.create(extension="8002", user=consultant)
    post(switch, "ringing")
    response = post(switch, "answered", extension="8002")
    assert response.status_code == 422
    assert Call.objects.get().answered_at is None


# The timeline ------------------------------------------------------------------


def test_an_ended_call_is_logged_once_with_its_duration(switch, agent, owner):
    start = timezone.now() - timedelta(minutes=3)
    post(switch, "ringing", at=start.isoformat())
    post(switch, "answered", at=(start + timedelta(seconds=5)).isoformat())
    end = (start + timedelta(seconds=97)).isoformat()
    first = post(switch, "ended", at=end)
    again = post(switch, "ended", at=end)
    assert first.json()["duration"] == 92
    assert again.json()["applied"] is False
    entries = Interaction.objects.filter(customer=owner, kind="call_in")
    assert entries.count() == 1
    entry = entries.get()
    assert entry.event == customer_events.CALL_TAKEN.code
    assert entry.params == {"extension": "8001", "seconds": "92"}
    assert entry.channel == "phone"
    assert entry.created_by == agent
    assert Call.objects.get().interaction == entry
    owner.refresh_from_db()
    assert owner.last_contact_at == start


def test_the_logged_call_reads_on_the_customer_page_in_both_languages(
    client, switch, agent, owner
):
    start = timezone.now() - timedelta(minutes=3)
    post(switch, "ringing", at=start.isoformat())
    post(switch, "answered", at=start.isoformat())
    post(switch, "ended", at=(start + timedelta(seconds=61)).isoformat())
    client.force_login(agent)
    page = client.get(owner.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    assert "Incoming call taken at extension 8001, 61 s" in page.content.decode()


def test_an_unanswered_call_is_logged_as_missed(switch, agent, owner):
    post(switch, "ringing")
    post(switch, "ended")
    entry = Interaction.objects.get(customer=owner)
    assert entry.event == customer_events.CALL_MISSED.code
    assert Call.objects.get().duration == 0


def test_an_ended_event_before_the_others_still_ends_the_call(switch, agent, owner):
    post(switch, "ended")
    post(switch, "ringing")
    call = Call.objects.get()
    assert call.status == "ended"
    assert Interaction.objects.filter(customer=owner).count() == 1


def test_the_agents_note_goes_on_the_timeline_with_the_call(
    client, switch, agent, owner
):
    post(switch, "ringing")
    post(switch, "answered")
    call = Call.objects.get()
    client.force_login(agent)
    url = reverse("customers:screen-pop-log", args=[call.pk])
    response = client.post(url, {"note": "问交房时间"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert "when the call ends" in response.content.decode()
    assert not Interaction.objects.filter(customer=owner).exists()
    post(switch, "ended")
    entry = Interaction.objects.get(customer=owner)
    assert entry.summary == "问交房时间"
    # Logging again changes nothing.
    response = client.post(url, {"note": "again"}, HTTP_ACCEPT_LANGUAGE="en")
    assert "On the timeline." in response.content.decode()
    assert Interaction.objects.filter(customer=owner).count() == 1


def test_logging_someone_elses_call_is_not_found(client, switch, agent, owner):
    post(switch, "ringing")
    colleague = UserFactory(username="agent2", role=Role.SERVICE_AGENT)
    client.force_login(colleague)
    call = Call.objects.get()
    response = client.post(reverse("customers:screen-pop-log", args=[call.pk]))
    assert response.status_code == 404
    assert (
        client.get(reverse("customers:screen-pop-card", args=[call.pk])).status_code
        == 404
    )


def test_logging_a_call_needs_the_right_to_change_customers(
    client, api_client, marketer, owner
):
    AgentExtension.objects.create(extension="8009", user=marketer)
    call_services.call_event(
        event="ringing", call_id="m-1", caller="13512345678", extension="8009"
    )
    client.force_login(marketer)
    call = Call.objects.get()
    response = client.post(reverse("customers:screen-pop-log", args=[call.pk]))
    assert response.status_code == 403


def test_an_unknown_caller_is_logged_when_registered_from_the_card(
    client, switch, consultant
):
    # A consultant on the sales hotline registers callers (a service agent records
    # a request instead: the intake registers them).
    AgentExtension.objects.create(extension="8001", user=consultant)
    post(switch, "ringing", caller="186 2222 3333")
    post(switch, "answered")
    post(switch, "ended")
    call = Call.objects.get()
    assert call.customer is None and call.interaction is None
    client.force_login(consultant)
    url = reverse("customers:screen-pop-register", args=[call.pk])
    form = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert 'value="186 2222 3333"' in form.content.decode()
    response = client.post(
        url,
        {
            "name": "新来电",
            "kind": "person",
            "mobile": "186 2222 3333",
            "source": "phone",
            "stage": "owner",
            "tags_text": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    customer = Customer.objects.get(name="新来电")
    call.refresh_from_db()
    assert call.customer == customer
    assert call.interaction.customer == customer
    assert Interaction.objects.filter(customer=customer, kind="call_in").count() == 1


def test_registering_with_a_bad_number_saves_nothing(client, switch, consultant):
    AgentExtension.objects.create(extension="8001", user=consultant)
    post(switch, "ringing", caller="186 2222 3333")
    call = Call.objects.get()
    client.force_login(consultant)
    response = client.post(
        reverse("customers:screen-pop-register", args=[call.pk]),
        {"name": "新来电", "kind": "person", "mobile": "12", "source": "phone"},
    )
    assert response.status_code == 200
    assert not Customer.objects.filter(name="新来电").exists()
    assert Call.objects.get().customer is None


def test_calls_follow_a_merge(switch, agent, owner, administrator):
    post(switch, "ringing")
    twin = CustomerFactory(name="周大福")
    customer_merge(actor=administrator, survivor=twin, absorbed=owner, choices={})
    assert Call.objects.get().customer == twin


# The stream ---------------------------------------------------------------------


def _open_stream(client, **headers):
    response = client.get(reverse("customers:screen-pop-stream"), **headers)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    chunks = iter(response.streaming_content)
    first = next(chunks).decode()
    assert first.startswith("retry:")  # subscribed: later events reach us
    return response, chunks


def _event(chunk: bytes) -> tuple[str, dict]:
    lines = dict(
        line.split(": ", 1)
        for line in chunk.decode().strip().splitlines()
        if ": " in line
    )
    return lines["id"], json.loads(lines["data"])


def test_a_ringing_call_reaches_the_agents_open_stream(
    client, switch, agent, owner, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(live, "STREAM_SECONDS", 3)
    client.force_login(agent)
    response, chunks = _open_stream(client)
    with django_capture_on_commit_callbacks(execute=True):
        post(switch, "ringing")
    event_id, data = _event(next(chunks))
    call = Call.objects.get()
    assert data["event"] == "ringing"
    assert data["card"] == reverse("customers:screen-pop-card", args=[call.pk])
    assert "12345678" not in json.dumps(data)  # no number travels through Redis
    assert (
        event_id
        == telephony._client().xrange(telephony.recent_key(agent.pk))[0][0].decode()
    )
    response.close()


def test_another_agents_calls_never_reach_the_stream(
    client,
    switch,
    agent,
    consultant,
    owner,
    django_capture_on_commit_callbacks,
    monkeypatch,
):
    monkeypatch.setattr(live, "STREAM_SECONDS", 1.5)
    AgentExtension.objects.create(extension="8002", user=consultant)
    client.force_login(consultant)
    response, chunks = _open_stream(client)
    with django_capture_on_commit_callbacks(execute=True):
        post(switch, "ringing")
    assert [c for c in chunks if b"event: call" in c] == []
    response.close()


def test_a_reconnecting_stream_replays_what_it_missed(
    client, switch, agent, owner, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(live, "STREAM_SECONDS", 0.5)
    with django_capture_on_commit_callbacks(execute=True):
        post(switch, "ringing", call_id="c-1")
        post(switch, "ringing", call_id="c-2")
        post(switch, "answered", call_id="c-2")
    ids = telephony._client().xrange(telephony.recent_key(agent.pk))
    first_id = ids[0][0].decode()
    client.force_login(agent)
    _response, chunks = _open_stream(client, HTTP_LAST_EVENT_ID=first_id)
    replayed = [_event(c) for c in chunks if b"event: call" in c]
    assert [d["event"] for _i, d in replayed] == ["ringing", "answered"]
    assert [i for i, _d in replayed] == [x[0].decode() for x in ids[1:]]
    # The page's own query parameter works the same (a new page of the same tab).
    _response, chunks = _open_stream(client, QUERY_STRING=f"last={ids[1][0].decode()}")
    assert [_event(c)[1]["event"] for c in chunks if b"event: call" in c] == [
        "answered"
    ]


def test_a_fresh_stream_replays_nothing(
    client, switch, agent, owner, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(live, "STREAM_SECONDS", 0.3)
    with django_capture_on_commit_callbacks(execute=True):
        post(switch, "ringing")
    client.force_login(agent)
    _response, chunks = _open_stream(client)
    assert [c for c in chunks if b"event: call" in c] == []


def test_a_user_without_an_extension_gets_no_stream(client, consultant):
    client.force_login(consultant)
    assert client.get(reverse("customers:screen-pop-stream")).status_code == 204


def test_the_stream_needs_a_login(client):
    response = client.get(reverse("customers:screen-pop-stream"))
    assert response.status_code == 302


def test_pages_open_the_stream_for_agents_with_an_extension_only(
    client, agent, consultant
):
    page = reverse("customers:customer-list")
    client.force_login(agent)
    assert 'data-testid="screen-pop"' in client.get(page).content.decode()
    client.force_login(consultant)
    assert 'data-testid="screen-pop"' not in client.get(page).content.decode()
    # Given an extension in the admin, the next page opens it (the cache follows).
    AgentExtension.objects.create(extension="8002", user=consultant)
    assert 'data-testid="screen-pop"' in client.get(page).content.decode()
    AgentExtension.objects.filter(user=consultant).delete()
    assert 'data-testid="screen-pop"' not in client.get(page).content.decode()


# The card ----------------------------------------------------------------------


def _card(client, call) -> str:
    response = client.get(
        reverse("customers:screen-pop-card", args=[call.pk]), HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 200
    return response.content.decode()


def test_the_card_shows_the_owner_units_requests_and_touch_points(
    client, switch, agent, owner, other_consultant
):
    service_services.request_create(
        actor=agent,
        customer=owner,
        unit=owner.unit,
        kind="repair",
        category="plumbing",
        severity="normal",
        channel="phone",
        description="地漏返水",
    )
    for n in range(7):
        services.interaction_log(
            customer=owner, kind="note", summary=f"备注{n}", actor=other_consultant
        )
    post(switch, "ringing")
    body = _card(client_login(client, agent), Call.objects.get())
    assert "周大福" in body
    assert "135 1234 5678" in body  # the desk sees full numbers
    assert other_consultant.display_name in body
    assert owner.unit.number in body
    assert "地漏返水" not in body  # the request by number and kind, not its text
    assert body.count('data-testid="screen-pop-request"') == 1
    assert "备注6" in body and "备注2" in body and "备注1" not in body  # the last five
    assert f"customer={owner.pk}" in body and f"unit={owner.unit.pk}" in body
    assert "channel=phone" in body
    assert 'data-testid="screen-pop-log"' in body


def client_login(client, user):
    client.force_login(user)
    return client


def test_the_card_masks_the_number_as_the_ui_does_for_that_agent(
    client, api_client, consultant, other_consultant
):
    AgentExtension.objects.create(extension="8101", user=consultant)
    pool = CustomerFactory(name="公海客户", mobile="+8613700001111")
    call_services.call_event(
        event="ringing", call_id="p-1", caller="13700001111", extension="8101"
    )
    body = _card(client_login(client, consultant), Call.objects.get())
    assert "公海客户" in body
    assert pool.mobile_for(consultant) == "137****1111"
    assert "137****1111" in body and "13700001111" not in body
    assert "137 0000 1111" not in body
    # The service request link names the caller, never their number.
    assert "%2B8613700001111" not in body and "+8613700001111" not in body


def test_a_customer_outside_the_agents_scope_shows_no_name(
    client, consultant, other_consultant
):
    AgentExtension.objects.create(extension="8101", user=consultant)
    CustomerFactory(
        name="别人的客户", mobile="+8613700002222", assigned_consultant=other_consultant
    )
    call_services.call_event(
        event="ringing", call_id="o-1", caller="13700002222", extension="8101"
    )
    body = _card(client_login(client, consultant), Call.objects.get())
    assert "别人的客户" not in body
    assert "137****2222" in body
    assert 'data-testid="screen-pop-outside"' in body
    assert other_consultant.display_name in body


def test_a_new_caller_card_offers_registration_and_a_request(client, agent, consultant):
    call_services.call_event(
        event="ringing", call_id="n-1", caller="186 2222 3333", extension="8001"
    )
    call = Call.objects.get()
    body = _card(client_login(client, agent), call)
    assert "New caller" in body
    assert "186 2222 3333" in body
    # The desk records a request (the intake registers the caller) ...
    assert 'data-testid="screen-pop-new-request"' in body
    assert "mobile=186+2222+3333" in body
    assert reverse("customers:screen-pop-register", args=[call.pk]) not in body
    # ... a consultant on the sales line registers them.
    AgentExtension.objects.create(extension="8101", user=consultant)
    call_services.call_event(
        event="ringing", call_id="n-2", caller="186 2222 3333", extension="8101"
    )
    call = Call.objects.get(call_id="n-2")
    body = _card(client_login(client, consultant), call)
    assert reverse("customers:screen-pop-register", args=[call.pk]) in body


def test_the_card_costs_the_same_queries_whatever_the_history(
    client, switch, agent, owner, other_consultant
):
    post(switch, "ringing")
    call = Call.objects.get()
    client.force_login(agent)
    url = reverse("customers:screen-pop-card", args=[call.pk])
    client.get(url)
    before = count_queries(lambda: client.get(url))
    building = make_building(project_name="二期", floors=1, per_floor=3, skipped=())
    for unit in building.units.all():
        Opportunity.objects.create(
            customer=owner,
            project=building.project,
            unit=unit,
            consultant=other_consultant,
            stage=Opportunity.Stage.SUBSCRIBED,
        )
        service_services.request_create(
            actor=agent,
            customer=owner,
            unit=unit,
            kind="repair",
            category="plumbing",
            severity="normal",
            channel="phone",
            description="漏水",
        )
    for n in range(20):
        services.interaction_log(
            customer=owner, kind="note", summary=f"备注{n}", actor=agent
        )
    client.get(url)
    assert count_queries(lambda: client.get(url)) == before
    assert before <= 12, before


def test_the_service_request_form_takes_the_prefill(client, agent, owner):
    client.force_login(agent)
    response = client.get(
        reverse("service:request-create"),
        {
            "mobile": owner.mobile,
            "customer": owner.pk,
            "unit": owner.unit.pk,
            "channel": "phone",
        },
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert f'value="{owner.mobile}"' in body
    assert f'id="caller-{owner.pk}" value="{owner.pk}" checked' in body
    assert f'id="unit-{owner.unit.pk}" value="{owner.unit.pk}" checked' in body
    assert '<option value="phone" selected>' in body


def test_a_switch_s_own_fields_in_an_event_are_ignored(switch, agent, owner):
    # Phone switches send vendor fields (trunk, queue, uniqueid…): not refused.
    response = post(switch, "ringing", trunk="SIP/1", uniqueid="1733.42")
    assert response.status_code == 201
    assert Call.objects.get().customer == owner
