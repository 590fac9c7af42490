"""Signed webhooks (crm_site.webhooks) against a real HTTP receiver on this machine:
signature, retries with back-off, replay, pause and resume, crashes, SSRF, privacy."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import re
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock

import pytest
from django.conf import settings
from django.core import mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from crm_site import fragments, outbox, tasks, webhooks
from crm_site.models import AuditEntry, Notification
from crm_site.webhooks import services, targets
from crm_site.webhooks.delivery import BACKOFF, DELIVERIES
from crm_site.webhooks.models import (
    WebhookDelivery,
    WebhookEvent,
    WebhookPauseNotice,
    WebhookSubscription,
)
from customers.services import customer_create, customer_update, interaction_log
from tests.api_fixtures import make_key
from tests.factories import CustomerFactory
from tests.helpers import assert_queries_do_not_grow

EVENTS = {
    "customer.created",
    "customer.updated",
    "customer.merged",
    "interaction.logged",
    "deal.stage_changed",
    "unit.status_changed",
    "service_request.created",
    "service_request.status_changed",
    "service_request.closed",
    "survey.answered",
    "referral.reward_due",
}


class Receiver:
    """An HTTP server in a thread: answers each POST with the next code of
    ``codes`` (then ``default``) and keeps what it received."""

    def __init__(self):
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.codes: list[int] = []
        self.default = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(
                    ({k.lower(): v for k, v in self.headers.items()}, body)
                )
                code = receiver.codes.pop(0) if receiver.codes else receiver.default
                self.send_response(code)
                self.end_headers()
                self.wfile.write(b"ok" if code < 300 else b"boom")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        # shutdown() waits for the loop's next poll: 0.5 s by default, each test.
        self.thread = threading.Thread(
            target=self.server.serve_forever, args=(0.02,), daemon=True
        )
        self.thread.start()

    def ids(self) -> list[str]:
        return [headers["webhook-id"] for headers, _ in self.received]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    server = Receiver()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _fresh_subscriber_set():
    # The subscriber set is cached in Redis, which outlives each test's rollback.
    fragments.bump(WebhookSubscription)
    yield
    fragments.bump(WebhookSubscription)


@pytest.fixture
def key(administrator):
    return make_key(administrator, "webhooks", name="ERP")[0]


@pytest.fixture
def subscription(key, receiver, administrator):
    created, _ = services.subscription_create(
        actor=administrator, api_key=key, url=receiver.url, events=sorted(EVENTS)
    )
    return created


def emit(event="customer.created", **data) -> WebhookEvent | None:
    with transaction.atomic():
        return services.event_emit(event, data=data or {"customer_id": 7})


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does (Standard Webhooks), written independently."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    return any(
        hmac.compare_digest(expected.decode(), sig.split(",", 1)[1])
        for sig in headers["webhook-signature"].split()
    )


def only_delivery() -> WebhookDelivery:
    return WebhookDelivery.objects.get()


def test_every_event_of_the_issue_is_registered_by_its_app():
    assert {e.name for e in webhooks.event_types()} == EVENTS


def test_a_delivery_is_signed_and_the_receiver_verifies_it(
    subscription, receiver, django_capture_on_commit_callbacks
):
    with (
        mock.patch.object(tasks.webhook_deliver, "delay") as delay,
        django_capture_on_commit_callbacks(execute=True) as queued,
    ):
        event = emit(customer_id=7)
    assert len(queued) == 1
    delivery = only_delivery()
    delay.assert_called_once_with(delivery.pk)
    assert tasks.webhook_deliver(delivery.pk) is True
    [(headers, body)] = receiver.received
    assert headers["webhook-id"] == str(event.id)
    assert abs(int(headers["webhook-timestamp"]) - timezone.now().timestamp()) < 5
    assert headers["webhook-signature"].startswith("v1,")
    assert verify(subscription.secret, headers, body)
    assert not verify("whsec_" + base64.b64encode(b"x" * 32).decode(), headers, body)
    payload = json.loads(body)
    assert payload["type"] == "customer.created"
    assert payload["data"]["customer_id"] == 7
    assert payload["data"]["url"].endswith("/api/v1/customers/7/")
    delivery.refresh_from_db()
    assert delivery.status == "sent" and delivery.response_code == 200
    assert delivery.response_excerpt == "ok" and delivery.response_ms is not None


def test_a_refused_delivery_is_retried_with_back_off_and_succeeds_after_recovery(
    subscription, receiver
):
    receiver.codes = [500, 503]
    emit()
    delivery = only_delivery()
    now = timezone.now()
    assert outbox.send_one(DELIVERIES, delivery.pk, now=now) is False
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.response_code == 500
    assert delivery.next_attempt_at == now + BACKOFF[0]
    # Not due yet: nothing is sent.
    assert outbox.send_one(DELIVERIES, delivery.pk, now=now) is False
    assert len(receiver.received) == 1
    later = now + BACKOFF[0]
    assert outbox.send_one(DELIVERIES, delivery.pk, now=later) is False
    delivery.refresh_from_db()
    assert delivery.next_attempt_at == later + BACKOFF[1]
    subscription.refresh_from_db()
    assert subscription.consecutive_failures == 2
    assert outbox.send_one(DELIVERIES, delivery.pk, now=later + BACKOFF[1]) is True
    delivery.refresh_from_db()
    assert delivery.status == "sent" and delivery.attempts == 3
    assert [line["code"] for line in delivery.attempt_log] == [500, 503, 200]
    assert len(set(receiver.ids())) == 1  # the same webhook-id every time
    subscription.refresh_from_db()
    assert subscription.consecutive_failures == 0 and subscription.failing_since is None


def test_retries_last_about_a_day_then_the_delivery_fails(subscription, receiver):
    assert timedelta(hours=23) < sum(BACKOFF, timedelta()) <= timedelta(hours=24)
    receiver.default = 500
    emit()
    delivery = only_delivery()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        attempts=DELIVERIES.max_attempts - 1
    )
    assert outbox.send_one(DELIVERIES, delivery.pk) is False
    delivery.refresh_from_db()
    assert delivery.status == "failed"


def test_a_task_run_twice_delivers_once(subscription, receiver):
    emit()
    delivery = only_delivery()
    assert tasks.webhook_deliver(delivery.pk) is True
    assert tasks.webhook_deliver(delivery.pk) is False
    assert len(receiver.received) == 1


def test_a_delivery_a_killed_worker_left_sending_is_sent_again_with_the_same_id(
    subscription, receiver, settings
):
    emit()
    delivery = only_delivery()
    with (
        mock.patch("crm_site.outbox.mark_sent", side_effect=SystemExit("killed")),
        pytest.raises(SystemExit),
    ):
        outbox.send_one(DELIVERIES, delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "sending"
    # Not stale yet: the sweeper leaves it alone.
    assert services.deliveries_pending() == []
    later = timezone.now() + timedelta(seconds=settings.WEBHOOK_STALE_AFTER_SECONDS + 1)
    # The receiver cannot be asked: sent again, after a refusal's back-off.
    assert services.deliveries_pending(now=later) == []
    again = later + DELIVERIES.backoff(1)
    assert services.deliveries_pending(now=again) == [delivery.pk]
    assert outbox.send_one(DELIVERIES, delivery.pk, now=again) is True
    first, second = receiver.ids()
    assert first == second == str(delivery.event_id)


def test_a_delivery_that_kills_its_worker_every_time_is_retried_a_bounded_number_of_times(
    subscription, receiver, settings
):
    # A receiver that drips its answer past the time limit: each try is counted
    # as a failure of the subscription, and the delivery ends failed.
    emit()
    delivery = only_delivery()
    calls = {"n": 0}

    def killed(*args, **kwargs):
        calls["n"] += 1
        raise SystemExit("hard time limit: worker killed mid-POST")

    now = timezone.now()
    for _cycle in range(DELIVERIES.max_attempts + 5):
        with (
            mock.patch("crm_site.webhooks.delivery.post", killed),
            contextlib.suppress(SystemExit),
        ):
            outbox.send_one(DELIVERIES, delivery.pk, now=now)
        now += timedelta(seconds=settings.WEBHOOK_STALE_AFTER_SECONDS + 1)
        services.deliveries_pending(now=now)
        now += timedelta(days=1)  # past any back-off
    delivery.refresh_from_db()
    subscription.refresh_from_db()
    assert 1 < calls["n"] <= DELIVERIES.max_attempts
    assert subscription.consecutive_failures == calls["n"]
    # Ended: failed, or waiting while the subscription is paused for its failures.
    assert delivery.status == "failed" or (
        delivery.status == "pending" and subscription.status == "paused"
    )


def test_replay_is_a_new_delivery_of_the_same_event_and_is_audited(
    subscription, receiver, administrator
):
    emit()
    delivery = only_delivery()
    outbox.send_one(DELIVERIES, delivery.pk)
    replay = services.delivery_replay(actor=administrator, delivery=delivery)
    assert replay.pk != delivery.pk and replay.event_id == delivery.event_id
    assert replay.idempotency_key != delivery.idempotency_key
    assert outbox.send_one(DELIVERIES, replay.pk) is True
    assert receiver.ids() == [str(delivery.event_id)] * 2
    assert AuditEntry.objects.filter(
        object_id=replay.pk, actor=administrator, action="create"
    ).exists()


def test_repeated_failures_pause_the_subscription_and_tell_the_administrators(
    subscription, receiver, administrator, consultant, settings
):
    settings.WEBHOOK_PAUSE_AFTER_FAILURES = 3
    receiver.default = 500
    for n in range(4):
        emit(customer_id=n + 1)
    pks = list(WebhookDelivery.objects.order_by("pk").values_list("pk", flat=True))
    for pk in pks[:3]:
        outbox.send_one(DELIVERIES, pk)
    subscription.refresh_from_db()
    assert subscription.status == "paused" and subscription.paused_at is not None
    assert "3" in subscription.paused_reason
    notes = Notification.objects.filter(event="crm_site.webhook_paused")
    assert list(notes.values_list("user", flat=True)) == [administrator.pk]
    assert not Notification.objects.filter(user=consultant).exists()
    # And an e-mail, through the outbox.
    notice = WebhookPauseNotice.objects.get()
    assert notice.user == administrator
    assert tasks.webhook_pause_notice_send(notice.pk) is True
    assert tasks.webhook_pause_notice_send(notice.pk) is False
    [email] = mail.outbox
    assert email.to == [administrator.email]
    assert subscription.url in email.subject and "/admin/" in email.body
    # Paused: the fourth waits, and events still queue behind it; none is lost.
    emit(customer_id=99)
    assert outbox.send_one(DELIVERIES, pks[3]) is False
    assert len(receiver.received) == 3
    assert WebhookDelivery.objects.filter(status="pending").count() == 5

    # The receiver is fixed; resuming sends everything that waited.
    receiver.default = 200
    with mock.patch.object(tasks.webhooks_send_pending, "delay"):
        assert services.subscription_resume(
            actor=administrator, subscription=subscription
        )
    assert outbox.send_due(DELIVERIES) == 5
    assert WebhookDelivery.objects.filter(status="sent").count() == 5
    subscription.refresh_from_db()
    assert subscription.status == "active" and subscription.consecutive_failures == 0


def test_pausing_by_hand_holds_deliveries_until_resumed(
    subscription, receiver, administrator
):
    assert services.subscription_pause(actor=administrator, subscription=subscription)
    emit()
    assert outbox.send_due(DELIVERIES) == 0
    with mock.patch.object(tasks.webhooks_send_pending, "delay"):
        services.subscription_resume(actor=administrator, subscription=subscription)
    assert outbox.send_due(DELIVERIES) == 1


def test_emit_writes_nothing_and_reads_no_table_when_nobody_subscribes(
    db, django_assert_num_queries
):
    emit()  # builds the cached set once
    with django_assert_num_queries(0):
        webhooks.emit("customer.created", data={"customer_id": 7})
    assert not WebhookEvent.objects.exists()
    assert not WebhookDelivery.objects.exists()


def test_emit_is_one_insert_per_table_and_only_for_who_wants_the_event(
    subscription, key, receiver, administrator, django_assert_num_queries
):
    services.subscription_create(
        actor=administrator,
        api_key=key,
        url=receiver.url,
        events=["service_request.created"],
    )
    third, _ = services.subscription_create(
        actor=administrator, api_key=key, url=receiver.url, events=["customer.created"]
    )
    emit()
    with django_assert_num_queries(4):  # savepoint, event, deliveries, release
        emit()
    assert set(WebhookDelivery.objects.values_list("subscription", flat=True)) == {
        subscription.pk,
        third.pk,
    }


def test_a_revoked_key_or_one_without_the_scope_receives_nothing(
    subscription, key, administrator
):
    key.revoked_at = timezone.now()
    key.save()
    assert emit() is None
    key.revoked_at = None
    key.scopes = ["customers:read"]
    key.save()
    assert emit() is None


def test_a_key_receives_only_events_its_user_may_see(consultant, receiver):
    key = make_key(consultant, "webhooks")[0]
    services.subscription_create(
        actor=consultant,
        api_key=key,
        url=receiver.url,
        events=["customer.created", "referral.reward_due"],
    )
    assert emit("customer.created", customer_id=1) is not None
    assert emit("referral.reward_due", referral_id=1) is None


def test_payloads_carry_no_personal_data(subscription, receiver, consultant):
    customer = customer_create(
        actor=consultant, name="王小明", mobile="+8613912345678", source="walk_in"
    )
    customer_update(actor=consultant, customer=customer, mobile="+8613987654321")
    interaction_log(
        customer=customer, kind="call", actor=consultant, summary="问了价格 13912345678"
    )
    outbox.send_due(DELIVERIES)
    types = [json.loads(body)["type"] for _, body in receiver.received]
    assert sorted(types) == [
        "customer.created",
        "customer.updated",
        "interaction.logged",
    ]
    everything = b"".join(body for _, body in receiver.received).decode()
    assert not re.search(r"1391234|1398765|王小明|价格", everything)
    with pytest.raises(ValueError):
        webhooks.emit("customer.created", data={"customer_id": 1, "mobile": "1"})
    with pytest.raises(ValueError):
        webhooks.emit("customer.created", data={"note": "x" * 100})


def test_the_service_desk_events_are_sent_from_the_services(
    key, receiver, administrator, service_agent
):
    from tests.service.conftest import closed_request

    services.subscription_create(
        actor=administrator,
        api_key=key,
        url=receiver.url,
        events=["service_request.created", "service_request.closed"],
    )
    request = closed_request(service_agent, CustomerFactory())
    types = list(
        WebhookEvent.objects.order_by("occurred_at").values_list("type", flat=True)
    )
    assert types == ["service_request.created", "service_request.closed"]
    data = WebhookEvent.objects.get(type="service_request.closed").data
    assert data["service_request_id"] == request.pk


@pytest.mark.parametrize(
    "url, allow_private",
    [
        ("http://169.254.169.254/latest/meta-data/", True),
        ("https://169.254.169.254/", True),
        ("https://[fe80::1]/", True),
        ("https://[::ffff:169.254.169.254]/", True),
        # The same address through 6to4 and NAT64 (Python counts these ranges global).
        ("https://[2002:a9fe:a9fe::1]/", True),
        ("https://[64:ff9b::a9fe:a9fe]/", True),
        ("https://[2002:7f00:1::1]/", False),
        ("https://[64:ff9b::a01:203]/", False),
        ("https://0.0.0.0/", True),
        ("https://224.0.0.1/", True),
        ("http://127.0.0.1:8080/", False),
        ("https://10.1.2.3/", False),
        ("https://192.168.1.10/", False),
        ("https://localhost/", False),
        ("http://93.184.216.34/", False),
        ("ftp://93.184.216.34/", True),
        ("https://user:pw@93.184.216.34/", True),
    ],
)
def test_webhook_targets_refused(url, allow_private, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = allow_private
    with pytest.raises(targets.TargetRefused):
        targets.check_url(url)


def test_webhook_targets_allowed(settings):
    targets.check_url("https://93.184.216.34/hook")
    targets.check_url("https://[64:ff9b::5db8:d822]/hook")  # 93.184.216.34 via NAT64
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    targets.check_url("http://127.0.0.1:9000/hook")
    targets.check_url("https://10.1.2.3/hook")


def test_a_target_made_unsafe_after_subscribing_is_not_contacted(
    subscription, receiver, settings
):
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        url="http://169.254.169.254/latest/meta-data/"
    )
    emit()
    delivery = only_delivery()
    with mock.patch("socket.create_connection") as connect:
        assert outbox.send_one(DELIVERIES, delivery.pk) is False
    connect.assert_not_called()
    delivery.refresh_from_db()
    assert delivery.status == "pending" and "169.254.169.254" in delivery.error


# The administrators' screens (admin site) -------------------------------------------


def test_creating_a_subscription_shows_its_secret_once(
    client, administrator, key, receiver
):
    client.force_login(administrator)
    add = reverse("admin:crm_site_webhooksubscription_add")
    response = client.post(
        add,
        {
            "api_key": key.pk,
            "url": receiver.url,
            "events": ["customer.created", "deal.stage_changed"],
            "description": "ERP",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 200
    subscription = WebhookSubscription.objects.get()
    assert subscription.secret in response.content.decode()
    assert subscription.events == ["customer.created", "deal.stage_changed"]
    change = client.get(
        reverse("admin:crm_site_webhooksubscription_change", args=[subscription.pk])
    )
    assert change.status_code == 200
    assert subscription.secret not in change.content.decode()
    assert AuditEntry.objects.filter(
        object_id=subscription.pk, action="create", actor=administrator
    ).exists()


def test_a_subscription_to_a_metadata_address_is_refused_and_nothing_saved(
    client, administrator, key, settings
):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    client.force_login(administrator)
    response = client.post(
        reverse("admin:crm_site_webhooksubscription_add"),
        {"api_key": key.pk, "url": "http://169.254.169.254/", "events": ["x"]},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "cannot be sent to 169.254.169.254" in body
    assert not WebhookSubscription.objects.exists()


def test_rotating_shows_the_new_secret_and_pause_resume_are_actions(
    client, administrator, subscription
):
    client.force_login(administrator)
    changelist = reverse("admin:crm_site_webhooksubscription_changelist")
    old = subscription.secret
    response = client.post(
        changelist, {"action": "rotate_secret", "_selected_action": [subscription.pk]}
    )
    subscription.refresh_from_db()
    assert subscription.secret != old
    assert subscription.secret in response.content.decode()
    client.post(changelist, {"action": "pause", "_selected_action": [subscription.pk]})
    subscription.refresh_from_db()
    assert subscription.status == "paused"
    with mock.patch.object(tasks.webhooks_send_pending, "delay"):
        client.post(
            changelist, {"action": "resume", "_selected_action": [subscription.pk]}
        )
    subscription.refresh_from_db()
    assert subscription.status == "active"


def test_the_delivery_log_filters_and_replays(client, administrator, subscription):
    emit()
    emit("deal.stage_changed", deal_id=3)
    client.force_login(administrator)
    log = reverse("admin:crm_site_webhookdelivery_changelist")
    response = client.get(
        log,
        {
            "subscription__id__exact": subscription.pk,
            "event_type": "deal.stage_changed",
        },
    )
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
    delivery = WebhookDelivery.objects.get(event__type="deal.stage_changed")
    detail = client.get(
        reverse("admin:crm_site_webhookdelivery_change", args=[delivery.pk])
    )
    assert detail.status_code == 200
    client.post(log, {"action": "replay", "_selected_action": [delivery.pk]})
    assert WebhookDelivery.objects.filter(replay_of=delivery).count() == 1


def test_the_delivery_log_reads_the_same_queries_whatever_its_length(
    client, administrator, subscription
):
    client.force_login(administrator)
    log = reverse("admin:crm_site_webhookdelivery_changelist")
    assert_queries_do_not_grow(
        lambda: client.get(log, {"subscription__id__exact": subscription.pk}),
        lambda: [emit(customer_id=n) for n in range(10)],
        at_most=15,
    )


def test_people_without_the_administrator_role_cannot_open_the_screens(
    client, consultant, subscription
):
    client.force_login(consultant)
    for name in (
        "admin:crm_site_webhooksubscription_changelist",
        "admin:crm_site_webhookdelivery_changelist",
    ):
        response = client.get(reverse(name))
        assert response.status_code == 302  # the admin's log-in page


def test_the_service_refuses_a_key_without_the_scope_an_unsafe_url_or_no_events(
    administrator, receiver
):
    from django.core.exceptions import ValidationError

    plain = make_key(administrator, "customers:read")[0]
    with pytest.raises(ValidationError) as refused:
        services.subscription_create(
            actor=administrator,
            api_key=plain,
            url="http://169.254.169.254/",
            events=[],
        )
    assert set(refused.value.message_dict) == {"api_key", "url", "events"}
    assert not WebhookSubscription.objects.exists()


def test_reserving_a_unit_sends_the_unit_and_deal_events(
    key, receiver, administrator, consultant, own_customer
):
    from sales import services as sales
    from tests.factories import make_building

    services.subscription_create(
        actor=administrator,
        api_key=key,
        url=receiver.url,
        events=["deal.stage_changed", "unit.status_changed"],
    )
    building = make_building()
    deal = sales.opportunity_open(
        actor=consultant, customer=own_customer, project=building.project
    )
    unit = building.units.first()
    sales.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    data = dict(WebhookEvent.objects.values_list("type", "data"))
    assert data["unit.status_changed"] == {
        "unit_id": unit.pk,
        "from": "available",
        "to": "reserved",
        "url": f"{settings.PUBLIC_BASE_URL}/api/v1/units/{unit.pk}/",
    }
    assert data["deal.stage_changed"]["deal_id"] == deal.pk
    assert data["deal.stage_changed"]["to"] == "reserved"


def test_after_a_rotation_deliveries_verify_with_the_new_and_for_a_day_the_old_secret(
    subscription, receiver, administrator
):
    old = subscription.secret
    new = services.secret_rotate(actor=administrator, subscription=subscription)
    emit()
    outbox.send_one(DELIVERIES, only_delivery().pk)
    headers, body = receiver.received[0]
    assert verify(new, headers, body) and verify(old, headers, body)
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        previous_secret_until=timezone.now()
    )
    emit()
    outbox.send_due(DELIVERIES)
    headers, body = receiver.received[1]
    assert verify(new, headers, body) and not verify(old, headers, body)


def test_the_sweeper_is_scheduled_and_queues_what_is_due(subscription, receiver):
    from django.conf import settings as conf

    scheduled = {entry["task"] for entry in conf.CELERY_BEAT_SCHEDULE.values()}
    assert "crm_site.tasks.webhooks_send_pending" in scheduled
    emit()
    with mock.patch.object(tasks.webhook_deliver, "delay") as delay:
        assert tasks.webhooks_send_pending() == 1
    delay.assert_called_once_with(only_delivery().pk)


def test_emit_many_writes_two_inserts_whatever_the_count(
    subscription, django_assert_num_queries, django_capture_on_commit_callbacks
):
    emit()  # the subscriber set is cached
    WebhookDelivery.objects.all().delete()
    for count in (3, 300):
        with (
            django_assert_num_queries(2),
            django_capture_on_commit_callbacks() as queued,
        ):
            webhooks.emit_many(
                "customer.created",
                data=[{"customer_id": n} for n in range(count)],
            )
        # Many at once: one sweep queues them, not a task each.
        assert len(queued) == (count if count <= services.QUEUE_AT_ONCE else 1)
    assert WebhookDelivery.objects.count() == 303
