"""An attacker's review of the integrations door (REST API, webhooks, screen pop):
what a key's owner or a webhook receiver could do that the README says they cannot."""

from __future__ import annotations

import socket
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from crm_site.api.scopes import Scope
from crm_site.webhooks import delivery, targets
from customers.models import AgentExtension, Call, Interaction
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

CALLS = "/api/v1/telephony/calls/"


# Screen pop: a call event's time ----------------------------------------------------


@pytest.fixture
def switch(api_client, service_agent):
    AgentExtension.objects.create(extension="8001", user=service_agent)
    return api_client(service_agent, Scope.TELEPHONY)


def _event(client, event: str, at, call_id: str = "c-future"):
    return client.post(
        CALLS,
        {
            "event": event,
            "call_id": call_id,
            "caller": "135 1234 5678",
            "extension": "8001",
            "at": at.isoformat(),
        },
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )


def test_a_call_event_dated_in_the_future_is_refused_and_records_nothing(
    switch, consultant
):
    """A switch (or whoever holds its key) dating a call in 2099 would put it on the
    timeline in 2099 and pin the customer's last contact there for good: the
    interactions API refuses a future time, so does this one."""
    customer = CustomerFactory(mobile="+8613512345678", assigned_consultant=consultant)
    later = timezone.now() + timedelta(days=3650)
    for event in ("ringing", "ended"):
        response = _event(switch, event, later)
        assert response.status_code == 422, response.content
        assert [e["field"] for e in response.json()["errors"]] == ["at"]
    assert not Call.objects.exists()
    customer.refresh_from_db()
    assert customer.last_contact_at is None
    assert not Interaction.objects.filter(customer=customer).exists()


def test_a_call_event_a_little_ahead_of_our_clock_is_still_taken(switch, consultant):
    CustomerFactory(mobile="+8613512345678", assigned_consultant=consultant)
    response = _event(switch, "ringing", timezone.now() + timedelta(minutes=2))
    assert response.status_code == 201, response.content


# Webhooks: where a delivery may go, and for how long --------------------------------


@pytest.mark.parametrize("url", ["https://[fec0::1]/hook", "https://[feff::1]/hook"])
def test_a_site_local_ipv6_target_is_private(url, settings):
    """fec0::/10 (site-local, deprecated but still routed on old intranets) is a
    private network, yet Python counts it as global: refused unless private targets
    are allowed."""
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    with pytest.raises(targets.TargetRefused):
        targets.check_url(url)


class Trickler:
    """A receiver that answers a POST one byte at a time, never finishing."""

    def __init__(self, pause: float = 0.2) -> None:
        self.pause = pause
        self.stop = threading.Event()
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(5)
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/hooks"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        try:
            conn, _addr = self.server.accept()
        except OSError:
            return
        with conn:
            conn.recv(65536)
            answer = b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 10_000
            for byte in answer:
                if self.stop.wait(self.pause):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    def close(self) -> None:
        self.stop.set()
        self.server.close()


@pytest.fixture
def trickler(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    server = Trickler()
    yield server
    server.close()


def test_a_receiver_that_answers_byte_by_byte_does_not_hold_the_worker(trickler):
    """WEBHOOK_TIMEOUT_SECONDS bounds the whole exchange (README: "any 2xx answer
    within 10 s"), not each read: a receiver trickling its answer would otherwise
    keep a Celery worker (shared with every other message) for hours, and the
    sweeper would send the same delivery to it again every minute."""
    outcome: dict = {}

    def send() -> None:
        started = time.monotonic()
        try:
            outcome["result"] = delivery.post(
                trickler.url, headers={"content-type": "application/json"}, body=b"{}"
            )
        except Exception as exc:  # noqa: BLE001 - the outcome is what is checked
            outcome["error"] = exc
        outcome["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    thread.join(timeout=6)
    assert not thread.is_alive(), "the POST was still reading after 6 s"
    assert isinstance(outcome.get("error"), OSError), outcome
    assert outcome["seconds"] < 3
