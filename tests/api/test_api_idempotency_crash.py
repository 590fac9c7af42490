"""Idempotency-Key when the worker dies: the view's work and its stored answer commit
together (crm_site.api.idempotency.Hold), so a retry never does the work twice."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from crm_site.api import idempotency
from crm_site.api.models import IdempotentRequest
from crm_site.api.scopes import Scope
from crm_site.models import Team
from customers.api import InteractionSerializer
from customers.models import AgentExtension, Interaction
from customers.services import telephony as call_services
from tests.api import resource

pytestmark = pytest.mark.django_db

URL = "/api/v1/interactions/"


class WorkerDied(Exception):
    """Stands for the worker's end (killed, timed out, its connection lost)."""


@pytest.fixture
def logger(api_client, consultant):
    return api_client(consultant, Scope.INTERACTIONS_WRITE)


def _body(customer) -> dict:
    return {"customer": customer.pk, "kind": "call_in", "summary": "问交房时间"}


def _age(key: str) -> None:
    """The row as a retry finds it once its first request is given up on."""
    IdempotentRequest.objects.filter(key=key).update(
        created_at=timezone.now() - idempotency.STALE - timedelta(seconds=1)
    )


def test_a_retry_after_the_worker_died_does_not_log_the_call_twice(
    logger, own_customer, monkeypatch
):
    """The worker dies once the call is committed: its answer was committed with it."""
    key = "3f0c7a52-2c1e-4b7e-9a55-7f3f0f1f6a10"

    def die(record, response):
        raise WorkerDied

    monkeypatch.setattr(idempotency, "finish", die)
    with pytest.raises(WorkerDied):
        logger.post(URL, _body(own_customer), format="json", HTTP_IDEMPOTENCY_KEY=key)
    monkeypatch.undo()
    assert Interaction.objects.filter(customer=own_customer).count() == 1

    _age(key)
    retry = logger.post(
        URL, _body(own_customer), format="json", HTTP_IDEMPOTENCY_KEY=key
    )
    assert retry.status_code == 201
    assert retry["Idempotent-Replayed"] == "true"
    assert Interaction.objects.filter(customer=own_customer).count() == 1


def test_a_worker_dying_before_its_answer_is_stored_leaves_nothing_done(
    logger, own_customer, monkeypatch
):
    """Dying while the answer is stored rolls the work back with it: the retry (once
    the first is given up on) logs the call, once."""
    key = "k-died-storing"

    def die(record, response):
        raise WorkerDied

    monkeypatch.setattr(idempotency, "store", die)
    with pytest.raises(WorkerDied):
        logger.post(URL, _body(own_customer), format="json", HTTP_IDEMPOTENCY_KEY=key)
    monkeypatch.undo()
    assert not Interaction.objects.filter(customer=own_customer).exists()

    _age(key)
    retry = logger.post(
        URL, _body(own_customer), format="json", HTTP_IDEMPOTENCY_KEY=key
    )
    assert retry.status_code == 201
    assert "Idempotent-Replayed" not in retry
    again = logger.post(
        URL, _body(own_customer), format="json", HTTP_IDEMPOTENCY_KEY=key
    )
    assert again["Idempotent-Replayed"] == "true"
    assert Interaction.objects.filter(customer=own_customer).count() == 1


def test_a_fault_after_the_work_rolls_it_back_and_the_retry_runs_afresh(
    logger, own_customer, monkeypatch
):
    """A 500 once the call was logged: nothing of it stays, no answer is stored."""
    key = "k-fault"

    def fault(self, instance):
        raise RuntimeError("rendering failed")

    monkeypatch.setattr(InteractionSerializer, "to_representation", fault)
    response = logger.post(
        URL, _body(own_customer), format="json", HTTP_IDEMPOTENCY_KEY=key
    )
    monkeypatch.undo()
    assert response.status_code == 500
    assert not Interaction.objects.filter(customer=own_customer).exists()
    assert not IdempotentRequest.objects.filter(key=key).exists()

    retry = logger.post(
        URL, _body(own_customer), format="json", HTTP_IDEMPOTENCY_KEY=key
    )
    assert retry.status_code == 201
    assert Interaction.objects.filter(customer=own_customer).count() == 1


@pytest.mark.urls("tests.api.urls")
@pytest.mark.django_db(transaction=True)
def test_a_duplicate_of_a_request_still_running_is_409_at_once_even_when_stale(
    administrator, monkeypatch
):
    """The running request holds its row locked: a duplicate neither waits for it nor
    takes over, however long it runs."""
    from tests.api_fixtures import make_key

    monkeypatch.setattr(idempotency, "STALE", timedelta(0))
    _key, raw = make_key(administrator, Scope.CUSTOMERS_WRITE, name="ERP")
    resource.gate.clear()
    resource.started.clear()
    answers = {}

    def first():
        client = APIClient(HTTP_AUTHORIZATION=f"Bearer {raw}")
        answers["first"] = client.post(
            "/api/v1/test-teams/",
            {"name": "slow"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="k-held",
        )

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert resource.started.wait(10)
        client = APIClient(HTTP_AUTHORIZATION=f"Bearer {raw}")
        second = client.post(
            "/api/v1/test-teams/",
            {"name": "slow"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="k-held",
        )
        assert second.status_code == 409
        assert not resource.gate.is_set()  # answered while the first still ran
    finally:
        resource.gate.set()
        thread.join(10)
    assert answers["first"].status_code == 201
    assert Team.objects.filter(name="slow").count() == 1


@pytest.mark.django_db(transaction=True)
def test_work_queued_on_commit_runs_after_the_answer_is_committed(
    api_client, service_agent, monkeypatch
):
    """The screen pop is pushed on commit: after the call's transaction, which holds
    the stored answer, has committed."""
    AgentExtension.objects.create(extension="8001", user=service_agent)
    switch = api_client(service_agent, Scope.TELEPHONY)
    pushed = []

    def push(call, event):
        pushed.append(
            (
                event,
                connection.in_atomic_block,
                IdempotentRequest.objects.get(key="k-ring").status,
            )
        )

    monkeypatch.setattr(call_services, "_push", push)
    response = switch.post(
        "/api/v1/telephony/calls/",
        {
            "event": "ringing",
            "call_id": "c-1",
            "caller": "13512345678",
            "extension": "8001",
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-ring",
    )
    assert response.status_code == 201
    assert pushed == [("ringing", False, 201)]
