"""The service desk's API: requests from the hotline or WeChat (one-stop intake,
首问负责制), their steps, and the survey results."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from crm_site.api.scopes import Scope
from crm_site.models import AuditEntry
from customers.models import Customer
from sales.models import Opportunity
from service import surveys
from service.models import (
    ServiceRequest,
    ServiceStep,
    SurveyInvitation,
    SurveyQuestion,
    SurveyResponse,
)
from tests.factories import CustomerFactory
from tests.helpers import assert_queries_do_not_grow
from tests.service.conftest import closed_request

REQUESTS = "/api/v1/service-requests/"
SURVEYS = "/api/v1/surveys/"
READ, WRITE = Scope.SERVICE_READ, Scope.SERVICE_WRITE


def own(customer: Customer, unit, consultant) -> Opportunity:
    return Opportunity.objects.create(
        customer=customer,
        project=unit.building.project,
        unit=unit,
        consultant=consultant,
        stage=Opportunity.Stage.CONTRACTED,
    )


@pytest.fixture
def owner(units, other_consultant) -> Customer:
    """An owner of two units, protected by another consultant of the team."""
    customer = CustomerFactory(
        name="周大福",
        mobile="+8613512345678",
        stage="owner",
        assigned_consultant=other_consultant,
    )
    own(customer, units[0], other_consultant)
    own(customer, units[1], other_consultant)
    return customer


def intake(**fields) -> dict:
    return {
        "kind": "repair",
        "category": "plumbing",
        "channel": "wechat",
        "description": "卫生间漏水",
        **fields,
    }


def audited(instance, action: str = AuditEntry.Action.CREATE) -> bool:
    return AuditEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(instance),
        object_id=instance.pk,
        action=action,
    ).exists()


# Recording a request ------------------------------------------------------------------


def test_a_hotline_key_records_a_request_for_an_owner_and_unit(
    api_client, service_agent, owner, units
):
    client = api_client(service_agent, WRITE)
    response = client.post(
        REQUESTS,
        intake(customer=owner.pk, unit=units[1].pk, severity="high"),
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    item = ServiceRequest.objects.get()
    assert body["id"] == item.pk and body["number"] == item.number
    # 首问负责制: the key's user is the first receiver; deadlines by category/severity.
    assert item.receiver == service_agent and body["receiver"]
    assert item.unit == units[1] and item.channel == "wechat"
    assert item.resolution_due - item.received_at == timedelta(hours=72)
    assert body["customer"] == {
        "id": owner.pk,
        "name": "周大福",
        "mobile": "135 1234 5678",  # the desk sees full numbers
    }
    assert body["unit"]["id"] == units[1].pk
    assert body["status"] == "received" and body["registered"] is False
    assert response["Location"] == f"{REQUESTS}{item.pk}/"
    assert audited(item)


def test_a_new_caller_by_mobile_is_registered_and_recorded_as_an_enquiry(
    api_client, service_agent
):
    client = api_client(service_agent, WRITE)
    response = client.post(
        REQUESTS,
        intake(mobile="+86 139-0000-1111", name="新来电", kind="complaint"),
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["registered"] is True and body["as_enquiry"] is True
    caller = Customer.objects.get(mobile="+8613900001111")
    assert caller.name == "新来电" and body["kind"] == "inquiry"


def test_a_consultant_records_by_mobile_and_sees_the_number_masked(
    api_client, consultant, owner
):
    # The owner is another consultant's: found by the full number, shown masked.
    client = api_client(consultant, WRITE, READ)
    response = client.post(
        REQUESTS,
        intake(mobile="13512345678", kind="complaint", category="design"),
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["customer"]["mobile"] == "135****5678"
    assert ServiceRequest.objects.get().receiver == consultant
    # ...and sees what they recorded, with the number masked.
    listed = client.get(REQUESTS).json()["results"]
    assert [row["customer"]["mobile"] for row in listed] == ["135****5678"]


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"category": "weather"}, "category"),
        ({"description": "   "}, "description"),
        ({"channel": "portal"}, "channel"),
        ({"customer": None}, "customer"),
        ({"unit": 10**6}, "unit"),
        ({"mobile": "+8613512345678"}, "customer"),  # both ways at once
    ],
)
def test_bad_input_is_a_422_problem_with_field_errors_and_saves_nothing(
    api_client, service_agent, owner, fields, field
):
    client = api_client(service_agent, WRITE)
    data = intake(customer=owner.pk) | fields
    data = {key: value for key, value in data.items() if value is not None}
    response = client.post(REQUESTS, data, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 422, response.json()
    problem = response.json()
    assert response["Content-Type"] == "application/problem+json"
    assert field in [error["field"] for error in problem["errors"]]
    assert not ServiceRequest.objects.exists()


def test_a_unit_the_caller_does_not_own_is_refused(
    api_client, service_agent, owner, units
):
    client = api_client(service_agent, WRITE)
    response = client.post(
        REQUESTS, intake(customer=owner.pk, unit=units[3].pk), format="json"
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["unit"]
    assert not ServiceRequest.objects.exists()


def test_a_customer_outside_the_users_scope_cannot_be_named_by_id(
    api_client, consultant, owner
):
    client = api_client(consultant, WRITE)
    response = client.post(REQUESTS, intake(customer=owner.pk), format="json")
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["customer"]
    assert not ServiceRequest.objects.exists()


def test_recording_needs_the_write_scope_and_the_intake_permission(
    api_client, service_agent, marketer, owner
):
    read_only = api_client(service_agent, READ)
    response = read_only.post(REQUESTS, intake(customer=owner.pk), format="json")
    assert response.status_code == 403
    # Marketing takes no calls: the key has the scope, its user not the right.
    no_right = api_client(marketer, WRITE, READ)
    response = no_right.post(REQUESTS, intake(customer=owner.pk), format="json")
    assert response.status_code == 403
    assert no_right.get(REQUESTS).status_code == 403
    assert not ServiceRequest.objects.exists()


# Reading requests ---------------------------------------------------------------------


def test_list_filters_by_customer_status_and_unit(
    api_client, service_agent, make_request, owner, units
):
    first = make_request(customer=owner, unit=units[0])
    second = make_request(customer=owner, unit=units[1])
    other = make_request()
    client = api_client(service_agent, READ)

    def ids(**params) -> list[int]:
        response = client.get(REQUESTS, params)
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    assert ids() == [other.pk, second.pk, first.pk]
    assert ids(customer=owner.pk) == [second.pk, first.pk]
    assert ids(unit=units[0].pk) == [first.pk]
    assert ids(status="closed") == []
    assert ids(status="received", customer=owner.pk) == [second.pk, first.pk]
    bad = client.get(REQUESTS, {"status": "lost", "customer": "x"})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"status", "customer"}


def test_a_caller_who_is_not_the_desk_sees_only_what_they_received(
    api_client, consultant, make_request
):
    theirs = make_request(actor=consultant)
    desks = make_request()
    client = api_client(consultant, READ)
    assert [row["id"] for row in client.get(REQUESTS).json()["results"]] == [theirs.pk]
    assert client.get(f"{REQUESTS}{theirs.pk}/").status_code == 200
    assert client.get(f"{REQUESTS}{desks.pk}/").status_code == 404


def test_detail_has_deadlines_and_steps_in_the_callers_language(
    api_client, service_agent, leak
):
    client = api_client(service_agent, READ, WRITE)
    client.post(
        f"{REQUESTS}{leak.pk}/steps/",
        {"action": "assign", "department": "engineering", "note": "派工程部"},
        format="json",
    )
    english = client.get(f"{REQUESTS}{leak.pk}/", HTTP_ACCEPT_LANGUAGE="en").json()
    assert english["status"] == "assigned"
    assert english["response_due"] and english["resolution_due"]
    (step,) = english["steps"]
    assert step["event"] == "service.handed_to"
    assert step["text"] == "Handed to Engineering · 派工程部"
    assert step["from_status"] == "received" and step["to_status"] == "assigned"
    chinese = client.get(f"{REQUESTS}{leak.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert chinese.json()["steps"][0]["text"] != step["text"]
    assert "派工程部" in chinese.json()["steps"][0]["text"]


def test_the_list_query_count_does_not_grow_with_requests_and_steps(
    api_client, service_agent, make_request, units
):
    client = api_client(service_agent, READ)
    make_request(unit=units[0])

    def grow():
        for unit in units[1:]:
            item = make_request(unit=unit)
            ServiceStep.objects.create(
                request=item, from_status="received", to_status="received", note="x"
            )

    assert_queries_do_not_grow(lambda: client.get(REQUESTS), grow, at_most=12)


def test_reading_needs_the_read_scope(api_client, service_agent, leak):
    client = api_client(service_agent, WRITE)
    assert client.get(REQUESTS).status_code == 403
    assert client.get(f"{REQUESTS}{leak.pk}/").status_code == 403


# Steps --------------------------------------------------------------------------------


def test_a_step_goes_through_the_desks_workflow_and_is_audited(
    api_client, service_agent, leak
):
    client = api_client(service_agent, WRITE)
    url = f"{REQUESTS}{leak.pk}/steps/"
    assert client.post(url, {"action": "start"}, format="json").status_code == 201
    response = client.post(url, {"action": "resolve", "note": "已更换"}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "resolved"
    callback = client.post(
        url, {"action": "callback", "satisfied": True, "note": "满意"}, format="json"
    )
    assert callback.status_code == 201
    assert client.post(url, {"action": "close"}, format="json").status_code == 201
    leak.refresh_from_db()
    assert leak.status == "closed" and leak.satisfied is True
    assert audited(leak, AuditEntry.Action.UPDATE)
    assert SurveyInvitation.objects.filter(request=leak).exists()


def test_a_step_the_state_forbids_is_a_409_and_changes_nothing(
    api_client, service_agent, leak
):
    client = api_client(service_agent, WRITE)
    response = client.post(
        f"{REQUESTS}{leak.pk}/steps/",
        {"action": "close"},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 409
    assert "satisfied" in response.json()["detail"]
    leak.refresh_from_db()
    assert leak.status == "received" and not leak.steps.exists()


def test_a_step_with_bad_input_is_a_422_and_changes_nothing(
    api_client, service_agent, leak
):
    client = api_client(service_agent, WRITE)
    url = f"{REQUESTS}{leak.pk}/steps/"
    for data, field in [
        ({"action": "fly"}, "action"),
        ({"action": "assign"}, "department"),
        ({"action": "assign", "department": "contractor"}, "department"),
        ({"action": "assign", "department": "property", "handler": 10**6}, "handler"),
        ({"action": "resolve"}, "note"),
    ]:
        response = client.post(url, data, format="json")
        assert response.status_code == 422, (data, response.json())
        assert field in [e["field"] for e in response.json()["errors"]]
    leak.refresh_from_db()
    assert leak.status == "received" and not leak.steps.exists()


def test_steps_need_the_desks_action_permission_and_the_write_scope(
    api_client, consultant, service_agent, make_request
):
    # A consultant sees the request they recorded, but the desk works it.
    theirs = make_request(actor=consultant)
    client = api_client(consultant, WRITE, READ)
    response = client.post(
        f"{REQUESTS}{theirs.pk}/steps/", {"action": "start"}, format="json"
    )
    assert response.status_code == 403
    read_only = api_client(service_agent, READ)
    response = read_only.post(
        f"{REQUESTS}{theirs.pk}/steps/", {"action": "start"}, format="json"
    )
    assert response.status_code == 403
    theirs.refresh_from_db()
    assert theirs.status == "received"
    unknown = api_client(service_agent, WRITE).post(
        f"{REQUESTS}999999/steps/", {"action": "start"}, format="json"
    )
    assert unknown.status_code == 404


def test_only_the_first_receiver_or_a_manager_makes_the_callback(
    api_client, service_agent, leak
):
    from crm_site.roles import Role
    from tests.factories import UserFactory

    colleague = UserFactory(username="colleague", role=Role.SERVICE_AGENT)
    own_client = api_client(service_agent, WRITE)
    url = f"{REQUESTS}{leak.pk}/steps/"
    own_client.post(url, {"action": "start"}, format="json")
    own_client.post(url, {"action": "resolve", "note": "修好"}, format="json")
    response = api_client(colleague, WRITE).post(
        url, {"action": "callback", "satisfied": True, "note": "好"}, format="json"
    )
    assert response.status_code == 403
    leak.refresh_from_db()
    assert leak.status == "resolved"


# Survey results -----------------------------------------------------------------------


def answer(invitation: SurveyInvitation, score: int = 4) -> SurveyResponse:
    questions = SurveyQuestion.objects.filter(template=invitation.template)
    return surveys.survey_submit(
        invitation=invitation,
        scores={q.pk: score for q in questions},
        comment="师傅很专业",
    )


@pytest.fixture
def answered(service_agent, owner_customer) -> SurveyResponse:
    closed = closed_request(service_agent, owner_customer)
    return answer(SurveyInvitation.objects.get(request=closed), score=5)


def test_survey_results_list_and_detail(api_client, service_manager, answered):
    client = api_client(service_manager, Scope.SURVEYS_READ)
    response = client.get(SURVEYS)
    assert response.status_code == 200
    (row,) = response.json()["results"]
    assert row["id"] == answered.pk
    assert row["request"] == answered.invitation.request_id
    assert row["customer"] == answered.customer_id
    assert row["index"] == "100.00" and row["comment"] == "师傅很专业"
    assert [score["score"] for score in row["scores"]] == [5, 5, 5]
    assert row["answered_at"]
    assert client.get(f"{SURVEYS}{answered.pk}/").json() == row
    assert client.get(f"{SURVEYS}999999/").status_code == 404


def test_survey_results_since(api_client, service_manager, answered):
    client = api_client(service_manager, Scope.SURVEYS_READ)
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    assert client.get(SURVEYS, {"since": tomorrow}).json()["results"] == []
    assert len(client.get(SURVEYS, {"since": yesterday}).json()["results"]) == 1
    bad = client.get(SURVEYS, {"since": "someday"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "since"
    assert client.get(SURVEYS, {"since": "9999-12-31"}).status_code == 422


def test_survey_results_need_the_scope_and_the_results_permission(
    api_client, service_agent, service_manager, answered
):
    assert api_client(service_manager, READ).get(SURVEYS).status_code == 403
    # An agent does not see the results page: nor its API.
    no_right = api_client(service_agent, Scope.SURVEYS_READ)
    assert no_right.get(SURVEYS).status_code == 403
    assert no_right.get(f"{SURVEYS}{answered.pk}/").status_code == 403


def test_the_survey_list_query_count_does_not_grow(
    api_client, service_manager, service_agent, answered
):
    client = api_client(service_manager, Scope.SURVEYS_READ)

    def grow():
        for n in range(3):
            customer = CustomerFactory(stage="owner", mobile=f"+86137001370{n:02d}")
            closed = closed_request(service_agent, customer)
            answer(SurveyInvitation.objects.get(request=closed))

    assert_queries_do_not_grow(lambda: client.get(SURVEYS), grow, at_most=8)


def test_an_agent_accepts_an_owners_portal_request_and_becomes_its_receiver(
    api_client, service_agent, owner
):
    from service import services

    portal = services.request_create(
        actor=None,
        customer=owner,
        kind="repair",
        category="plumbing",
        severity="normal",
        channel="portal",
        description="阳台渗水",
    )
    client = api_client(service_agent, WRITE)
    response = client.post(
        f"{REQUESTS}{portal.pk}/steps/", {"action": "accept"}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["receiver"] == service_agent.display_name
    portal.refresh_from_db()
    assert portal.receiver == service_agent
    assert audited(portal, AuditEntry.Action.UPDATE)
