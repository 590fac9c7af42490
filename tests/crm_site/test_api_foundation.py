"""The API's foundation on a test-only resource (tests/api/resource.py): scopes,
the rate limit, Idempotency-Key, problem details and the audit trail's ``via``."""

from __future__ import annotations

import threading

import pytest
from django.core.cache import cache
from django.utils import translation
from rest_framework.test import APIClient

from crm_site.api.models import IdempotentRequest
from crm_site.api.scopes import Scope
from crm_site.models import AuditEntry, Team
from tests.api import resource

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.api.urls")]

URL = "/api/v1/test-teams/"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def writer(api_client, administrator):
    return api_client(
        administrator, Scope.CUSTOMERS_READ, Scope.CUSTOMERS_WRITE, name="ERP"
    )


# Keys and scopes ---------------------------------------------------------------


def test_no_key_is_401_problem():
    response = APIClient().get(URL, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 401
    assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("header", ["Bearer nonsense", "Basic abc", "Bearer "])
def test_a_bad_key_is_401(header):
    response = APIClient(HTTP_AUTHORIZATION=header).get(URL)
    assert response.status_code == 401


def test_a_key_without_the_scope_is_403(api_client, administrator):
    client = api_client(administrator, Scope.CUSTOMERS_READ)
    assert client.get(URL).status_code == 200
    response = client.post(URL, {"name": "x"}, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 403
    assert response.json()["type"].endswith("/permission-denied")
    assert not Team.objects.filter(name="x").exists()


def test_a_view_declaring_no_scope_is_closed(api_client, administrator):
    client = api_client(administrator, *Scope.values)
    from tests.api.resource import PingView

    PingView.required_scopes, saved = None, PingView.required_scopes
    try:
        assert client.post("/api/v1/test-ping/").status_code == 403
    finally:
        PingView.required_scopes = saved
    assert client.post("/api/v1/test-ping/").status_code == 200


def test_a_revoked_or_rotated_key_stops_at_once(writer, administrator):
    from crm_site.api.keys import api_key_revoke, api_key_rotate

    assert writer.get(URL).status_code == 200
    new = api_key_rotate(actor=administrator, key=writer.key)
    assert writer.get(URL).status_code == 401
    fresh = APIClient(HTTP_AUTHORIZATION=f"Bearer {new}")
    assert fresh.get(URL).status_code == 200
    api_key_revoke(actor=administrator, key=writer.key)
    assert fresh.get(URL).status_code == 401


def test_a_key_acting_as_an_inactive_user_is_refused(writer, administrator):
    administrator.is_active = False
    administrator.save()
    assert writer.get(URL).status_code == 401


def test_last_use_costs_no_write_per_call_and_is_saved_each_minute(writer):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from crm_site.tasks import api_keys_last_use_save

    writer.key.refresh_from_db()
    assert writer.key.last_used_at is None
    with CaptureQueriesContext(connection) as first:
        writer.get(URL)
    with CaptureQueriesContext(connection) as second:
        writer.get(URL)
    assert not [q for q in first if not q["sql"].startswith("SELECT")]
    assert len(first) == len(second)  # every call the same queries
    assert api_keys_last_use_save() == 1
    writer.key.refresh_from_db()
    first_use = writer.key.last_used_at
    assert first_use is not None
    assert api_keys_last_use_save() == 0  # nothing new: no write


# Rate limit ----------------------------------------------------------------------


def test_over_the_rate_is_429_with_retry_after(api_client, administrator):
    client = api_client(administrator, Scope.CUSTOMERS_READ, rate_per_minute=3)
    for _ in range(3):
        assert client.get(URL).status_code == 200
    response = client.get(URL, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    body = response.json()
    assert body["type"].endswith("/throttled") and body["status"] == 429
    # Another key has its own budget.
    assert api_client(administrator, Scope.CUSTOMERS_READ).get(URL).status_code == 200


# Idempotency-Key -----------------------------------------------------------------


def test_a_repeated_post_is_replayed_not_run_again(writer):
    first = writer.post(URL, {"name": "A"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first
    again = writer.post(URL, {"name": "A"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Team.objects.filter(name="A").count() == 1
    # Without the header a POST runs each time: here, the twin is refused.
    assert writer.post(URL, {"name": "A"}, format="json").status_code == 409


def test_an_error_answer_is_replayed_too(writer):
    first = writer.post(URL, {"name": "bad"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    again = writer.post(URL, {"name": "bad"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert first.status_code == again.status_code == 422
    assert again["Idempotent-Replayed"] == "true"


def test_the_same_key_with_another_body_is_422(writer):
    writer.post(URL, {"name": "A"}, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    response = writer.post(
        URL,
        {"name": "B"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-2",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 422
    assert response.json()["type"].endswith("/idempotency-key-reused")
    assert not Team.objects.filter(name="B").exists()


def test_idempotency_keys_are_per_api_key(writer, api_client, administrator):
    other = api_client(administrator, Scope.CUSTOMERS_WRITE)
    writer.post(URL, {"name": "A"}, format="json", HTTP_IDEMPOTENCY_KEY="same")
    response = other.post(
        URL, {"name": "B"}, format="json", HTTP_IDEMPOTENCY_KEY="same"
    )
    assert response.status_code == 201


def test_an_invalid_idempotency_key_is_400(writer):
    response = writer.post(
        URL, {"name": "A"}, format="json", HTTP_IDEMPOTENCY_KEY="x" * 256
    )
    assert response.status_code == 400
    assert not Team.objects.filter(name="A").exists()


def test_a_duplicate_while_the_first_runs_is_409(writer):
    IdempotentRequest.objects.create(api_key=writer.key, key="k-3", fingerprint="?")
    response = writer.post(
        URL, {"name": "A"}, format="json", HTTP_IDEMPOTENCY_KEY="k-3"
    )
    # A different fingerprint is a reuse; the same one, still running, a 409.
    assert response.status_code == 422
    from crm_site.api.idempotency import HEADER  # noqa: F401

    IdempotentRequest.objects.all().delete()
    writer.post(URL, {"name": "A"}, format="json", HTTP_IDEMPOTENCY_KEY="k-4")
    IdempotentRequest.objects.filter(key="k-4").update(status=None)
    response = writer.post(
        URL,
        {"name": "A"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-4",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 409
    assert response.json()["type"].endswith("/idempotency-in-progress")


@pytest.mark.django_db(transaction=True)
def test_a_concurrent_duplicate_gets_409_then_the_replay(administrator):
    """Two real requests at once: the second finds the first still running."""
    from tests.api_fixtures import make_key

    _key, raw = make_key(administrator, Scope.CUSTOMERS_WRITE, name="ERP")
    resource.gate.clear()
    resource.started.clear()
    answers = {}

    def first():
        client = APIClient(HTTP_AUTHORIZATION=f"Bearer {raw}")
        answers["first"] = client.post(
            URL, {"name": "slow"}, format="json", HTTP_IDEMPOTENCY_KEY="k-5"
        )

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert resource.started.wait(10)
        client = APIClient(HTTP_AUTHORIZATION=f"Bearer {raw}")
        second = client.post(
            URL, {"name": "slow"}, format="json", HTTP_IDEMPOTENCY_KEY="k-5"
        )
        assert second.status_code == 409
    finally:
        resource.gate.set()
        thread.join(10)
    assert answers["first"].status_code == 201
    third = client.post(
        URL, {"name": "slow"}, format="json", HTTP_IDEMPOTENCY_KEY="k-5"
    )
    assert third.status_code == 201 and third["Idempotent-Replayed"] == "true"
    assert Team.objects.filter(name="slow").count() == 1


def test_a_server_error_is_not_stored(writer):
    response = writer.post(
        URL, {"name": "boom"}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert response.status_code == 500
    assert not IdempotentRequest.objects.exists()


def test_old_answers_are_purged(writer):
    from datetime import timedelta

    from django.utils import timezone

    from crm_site.tasks import idempotency_purge

    writer.post(URL, {"name": "A"}, format="json", HTTP_IDEMPOTENCY_KEY="old")
    writer.post(URL, {"name": "B"}, format="json", HTTP_IDEMPOTENCY_KEY="new")
    IdempotentRequest.objects.filter(key="old").update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    assert idempotency_purge() == 1
    assert list(IdempotentRequest.objects.values_list("key", flat=True)) == ["new"]


# The audit trail -------------------------------------------------------------------


def test_audit_rows_written_in_a_call_carry_the_key_name(writer, administrator):
    writer.post(URL, {"name": "A"}, format="json")
    entries = AuditEntry.objects.filter(object_repr="A")
    assert entries.count() == 2  # audit_record and a service's bulk_create
    assert set(entries.values_list("via", flat=True)) == {"ERP"}
    entry = entries.first()
    assert entry.actor == administrator
    with translation.override("en"):
        assert entry.actor_label == f"{administrator.display_name} via ERP"
    # Outside a call, nothing is named.
    from tests.api.resource import team_create

    team_create(actor=administrator, name="B")
    assert set(
        AuditEntry.objects.filter(object_repr="B").values_list("via", flat=True)
    ) == {""}


def test_the_admin_audit_list_shows_via(client, writer, administrator):
    writer.post(URL, {"name": "A"}, format="json")
    client.force_login(administrator)
    response = client.get("/admin/crm_site/auditentry/", HTTP_ACCEPT_LANGUAGE="en")
    assert f"{administrator.display_name} via ERP" in response.content.decode()


# Problems ----------------------------------------------------------------------------


def test_a_service_validation_error_is_a_field_error(writer):
    response = writer.post(
        URL, {"name": "bad"}, format="json", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["errors"] == [{"field": "name", "message": "This name is not allowed."}]
    assert body["instance"] == URL
    response = writer.post(URL, {"name": "whole"}, format="json")
    assert response.json()["errors"] == [
        {"field": "", "message": "The request as a whole is refused."}
    ]


def test_serializer_errors_are_field_errors(writer):
    response = writer.post(URL, {"name": ""}, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "name"


def test_problems_speak_the_callers_language(writer):
    chinese = writer.get(URL + "999999/").json()
    english = writer.get(URL + "999999/", HTTP_ACCEPT_LANGUAGE="en").json()
    assert english["title"] == "Not found."
    assert chinese["title"] == "未找到。"
    assert chinese["status"] == english["status"] == 404
    # zh-hans is the default without Accept-Language; our own messages too
    # (compared with the catalogue, which the lead compiles from the .po files).
    from django.utils import translation

    from crm_site.api.problems import IdempotencyKeyReused

    writer.post(URL, {"name": "A"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    reused = writer.post(URL, {"name": "B"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    with translation.override("zh-hans"):
        assert reused.json()["title"] == str(IdempotencyKeyReused.default_detail)
    english = writer.post(
        URL,
        {"name": "B"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert english.json()["title"].startswith("This Idempotency-Key was already used")


def test_permission_denied_and_conflict_are_problems(writer):
    response = writer.post(URL, {"name": "forbidden"}, format="json")
    assert response.status_code == 403
    assert response.json()["type"].endswith("/permission-denied")
    team = Team.objects.create(name="Twin")
    response = writer.post(
        URL, {"name": "Twin"}, format="json", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 409
    assert response.json()["existing_id"] == team.pk
    assert response.json()["detail"] == "A team with this name exists."


def test_a_server_error_is_logged_and_says_nothing_inside(writer, caplog):
    with caplog.at_level("ERROR", logger="crm_site.api"):
        response = writer.post(
            URL, {"name": "boom"}, format="json", HTTP_ACCEPT_LANGUAGE="en"
        )
    assert response.status_code == 500
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["type"].endswith("/server-error")
    assert "secret_stuff" not in response.content.decode()
    assert "RuntimeError" not in response.content.decode()
    assert any("secret_stuff" in r.exc_text or "" for r in caplog.records if r.exc_text)
    assert not Team.objects.filter(name="boom").exists()


def test_invalid_cursor_and_json_are_problems(writer):
    assert writer.get(URL + "?cursor=garbage").status_code == 404
    response = writer.post(URL, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"


def test_the_customer_history_names_the_system(client, consultant, own_customer):
    from django.urls import reverse

    from crm_site.api.context import calling_as
    from crm_site.audit import audit_record

    with calling_as("ERP"):
        audit_record(
            actor=consultant, instance=own_customer, action=AuditEntry.Action.UPDATE
        )
    client.force_login(consultant)
    url = reverse("customers:customer-history", args=[own_customer.pk])
    body = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f"{consultant.display_name} via ERP" in body
