"""The one outbox (crm_site.outbox), shown on consultants' digests: they go by e-mail
(Django's in-memory backend can say which Message-IDs it has) with an in-app note."""

from __future__ import annotations

import contextlib
import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm_site import outbox
from crm_site.models import AuditEntry, Notification
from sales.models import FollowUpDigest
from sales.services.reminders import DIGESTS
from tests.factories import UserFactory
from tests.helpers import assert_queries_do_not_grow


def digests(count: int) -> list[FollowUpDigest]:
    today = timezone.localdate()
    users = UserFactory.create_batch(count)
    return FollowUpDigest.objects.bulk_create(
        FollowUpDigest(user=user, day=today, due_today=1) for user in users
    )


def crash_after_the_provider_accepted(row_pk: int) -> None:
    """A worker that handed the message over and died before recording it."""
    with (
        mock.patch("crm_site.outbox.mark_sent", side_effect=SystemExit("killed")),
        pytest.raises(SystemExit),
    ):
        outbox.send_one(DIGESTS, row_pk)


def test_every_message_has_its_own_idempotency_key_and_the_provider_gets_it(db):
    first, second = digests(2)
    assert first.idempotency_key != second.idempotency_key
    assert outbox.send_one(DIGESTS, first.pk) is True
    assert mail.outbox[0].extra_headers["Message-ID"] == (
        f"<{first.idempotency_key}@anju-crm>"
    )
    first.refresh_from_db()
    assert first.status == "sent" and first.message_id and first.channel == "email"


@pytest.mark.django_db(transaction=True)
def test_two_workers_claiming_at_once_send_each_message_once():
    rows = digests(30)
    barrier = threading.Barrier(2)
    errors: list[Exception] = []

    def worker():
        try:
            barrier.wait()
            outbox.send_due(DIGESTS)
        except Exception as exc:  # noqa: BLE001 - the main thread asserts on it
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    keys = [message.extra_headers["Message-ID"] for message in mail.outbox]
    assert len(keys) == len(rows) == len(set(keys))
    assert FollowUpDigest.objects.filter(status="sent").count() == len(rows)
    assert Notification.objects.count() == len(rows)


def test_claiming_a_batch_costs_the_same_queries_whatever_its_size(db):
    digests(3)
    with CaptureQueriesContext(connection) as small:
        assert len(outbox.claim(DIGESTS, limit=20)) == 3
    digests(20)
    with CaptureQueriesContext(connection) as large:
        assert len(outbox.claim(DIGESTS, limit=20)) == 20
    assert len(large.captured_queries) == len(small.captured_queries) <= 5


def test_a_refused_message_is_retried_after_a_growing_delay_then_failed(db):
    (row,) = digests(1)
    now = timezone.now()
    delays = []
    with mock.patch(
        "crm_site.messaging.EmailMultiAlternatives.send",
        side_effect=OSError("smtp down"),
    ):
        for _attempt in range(DIGESTS.max_attempts):
            assert outbox.send_due(DIGESTS, now=now) == 0
            row.refresh_from_db()
            if row.status == "failed":
                break
            assert outbox.send_due(DIGESTS, now=now) == 0  # not before the delay
            delays.append(row.next_attempt_at - now)
            now = row.next_attempt_at
    assert row.status == "failed" and row.attempts == DIGESTS.max_attempts
    assert row.error == "smtp down"
    assert delays == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert mail.outbox == [] and not Notification.objects.exists()


def test_a_crash_after_the_provider_accepted_is_settled_as_sent_without_a_second_send(
    db,
):
    (row,) = digests(1)
    crash_after_the_provider_accepted(row.pk)
    row.refresh_from_db()
    assert row.status == "sending" and len(mail.outbox) == 1
    # Nobody sends it while it is claimed, nor before it is stale.
    assert outbox.send_due(DIGESTS) == 0
    assert outbox.recover_stale(DIGESTS).sent == 0
    later = timezone.now() + DIGESTS.stale_after + timedelta(minutes=1)
    recovered = outbox.recover_stale(DIGESTS, now=later)
    assert (recovered.sent, recovered.requeued, recovered.parked) == (1, 0, 0)
    row.refresh_from_db()
    assert row.status == "sent" and row.message_id
    assert outbox.send_due(DIGESTS, now=later) == 0
    assert len(mail.outbox) == 1
    assert Notification.objects.filter(user=row.user).count() == 1


def test_a_crash_before_the_provider_got_it_is_queued_again_and_sent_once(db):
    (row,) = digests(1)
    with (
        mock.patch("crm_site.outbox.deliver", side_effect=SystemExit("killed")),
        pytest.raises(SystemExit),
    ):
        outbox.send_one(DIGESTS, row.pk)
    later = timezone.now() + DIGESTS.stale_after + timedelta(minutes=1)
    assert outbox.recover_stale(DIGESTS, now=later).requeued == 1
    # Handed over and lost: retried like a refusal, after its back-off.
    assert outbox.send_due(DIGESTS, now=later) == 0
    again = later + DIGESTS.backoff(1)
    assert outbox.send_due(DIGESTS, now=again) == 1
    assert outbox.send_due(DIGESTS, now=again) == 0
    assert len(mail.outbox) == 1


def test_a_crash_the_provider_cannot_settle_is_parked_and_never_sent_again(
    db, settings
):
    (row,) = digests(1)
    crash_after_the_provider_accepted(row.pk)
    # A real SMTP server cannot say which messages it accepted.
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    later = timezone.now() + DIGESTS.stale_after + timedelta(minutes=1)
    assert outbox.recover_stale(DIGESTS, now=later).parked == 1
    row.refresh_from_db()
    assert row.status == "unknown" and row.error == outbox.UNKNOWN_ERROR
    assert outbox.send_due(DIGESTS, now=later + timedelta(days=1)) == 0
    assert outbox.recover_stale(DIGESTS, now=later + timedelta(days=1)).parked == 0
    assert len(mail.outbox) == 1


@pytest.fixture
def parked(db, settings):
    (row,) = digests(1)
    crash_after_the_provider_accepted(row.pk)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    outbox.recover_stale(
        DIGESTS, now=timezone.now() + DIGESTS.stale_after + timedelta(minutes=1)
    )
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    row.refresh_from_db()
    return row


def test_the_review_page_lists_parked_messages_of_every_kind(
    client, administrator, parked
):
    client.force_login(administrator)
    page = client.get(reverse("outbox-parked"))
    assert page.status_code == 200
    groups = {group.kind.name: group for group in page.context["groups"]}
    assert {
        "sales.follow_up_digest",
        "service.handover_notice",
        "service.survey_invitation",
        "service.survey_reminder",
        "marketing.invitation",
    } <= set(groups)
    assert groups["sales.follow_up_digest"].total == 1
    assert parked.user.display_name in page.content.decode()


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("administrator", 200),
        ("service_manager", 200),
        ("consultant", 403),
        ("marketer", 403),
        ("executive", 403),
        ("outsider", 403),
    ],
    indirect=["persona"],
)
def test_the_review_page_is_for_administrators_and_service_managers(
    client, persona, status
):
    client.force_login(persona)
    assert client.get(reverse("outbox-parked")).status_code == status


def test_mark_sent_records_it_with_what_follows_and_an_audit_entry(
    client, administrator, parked
):
    client.force_login(administrator)
    url = reverse("outbox-mark-sent", args=[DIGESTS.name, parked.pk])
    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 302
    parked.refresh_from_db()
    assert parked.status == "sent"
    assert Notification.objects.filter(user=parked.user).count() == 1
    entry = AuditEntry.objects.get(object_id=parked.pk, actor=administrator)
    assert entry.changes == {"status": {"old": "unknown", "new": "sent"}}
    client.post(url)  # twice: nothing more
    assert Notification.objects.filter(user=parked.user).count() == 1
    assert AuditEntry.objects.filter(object_id=parked.pk).count() == 1
    assert len(mail.outbox) == 1


def test_send_again_queues_it_once_more_with_an_audit_entry(
    client, administrator, parked
):
    client.force_login(administrator)
    url = reverse("outbox-send-again", args=[DIGESTS.name, parked.pk])
    assert client.post(url).status_code == 302
    parked.refresh_from_db()
    assert parked.status == "pending" and parked.attempts == 0
    assert AuditEntry.objects.get(object_id=parked.pk).changes == {
        "status": {"old": "unknown", "new": "pending"}
    }
    assert outbox.send_due(DIGESTS) == 1
    assert len(mail.outbox) == 2


def test_review_actions_refuse_other_roles_and_unknown_kinds(
    client, consultant, administrator, parked
):
    client.force_login(consultant)
    url = reverse("outbox-mark-sent", args=[DIGESTS.name, parked.pk])
    assert client.post(url).status_code == 403
    parked.refresh_from_db()
    assert parked.status == "unknown"
    client.force_login(administrator)
    bad = reverse("outbox-mark-sent", args=["nothing.here", parked.pk])
    assert client.post(bad).status_code == 404


def test_the_review_page_costs_the_same_queries_whatever_is_parked(
    client, administrator, parked, settings
):
    client.force_login(administrator)

    def park_more():
        for row in digests(5):
            FollowUpDigest.objects.filter(pk=row.pk).update(
                status="unknown", claimed_at=timezone.now()
            )

    assert_queries_do_not_grow(
        lambda: client.get(reverse("outbox-parked")), park_more, at_most=20
    )


def test_a_stale_row_at_its_last_attempt_is_failed_not_sent_again(db):
    (row,) = digests(1)
    past = timezone.now() - DIGESTS.stale_after - timedelta(minutes=1)
    FollowUpDigest.objects.filter(pk=row.pk).update(
        status="sending", attempts=DIGESTS.max_attempts, claimed_at=past
    )
    assert outbox.recover_stale(DIGESTS).failed == 1
    row.refresh_from_db()
    assert row.status == "failed" and row.error == outbox.INTERRUPTED_ERROR
    assert outbox.send_due(DIGESTS, now=timezone.now() + timedelta(days=1)) == 0
    assert mail.outbox == []


def test_a_send_that_kills_its_worker_every_time_ends_failed(db):
    (row,) = digests(1)
    now = timezone.now()
    with mock.patch("crm_site.outbox.deliver", side_effect=SystemExit("time limit")):
        for _cycle in range(DIGESTS.max_attempts + 3):
            with contextlib.suppress(SystemExit):
                outbox.send_due(DIGESTS, now=now)
            now += DIGESTS.stale_after + timedelta(minutes=1)
            outbox.recover_stale(DIGESTS, now=now)
            now += timedelta(hours=2)  # past any back-off
    row.refresh_from_db()
    assert row.status == "failed" and row.attempts == DIGESTS.max_attempts


def test_one_row_that_cannot_be_settled_is_parked_and_the_others_are_settled(db):
    poison, healthy = digests(2)
    for row in (poison, healthy):
        crash_after_the_provider_accepted(row.pk)
    real_after_sent = type(DIGESTS).after_sent

    def after_sent(self, row, *, now):
        if row.pk == poison.pk:
            raise ValueError("a bug in one row's follow-up")
        return real_after_sent(self, row, now=now)

    later = timezone.now() + DIGESTS.stale_after + timedelta(minutes=1)
    with mock.patch.object(type(DIGESTS), "after_sent", after_sent):
        recovered = outbox.recover_stale(DIGESTS, now=later)
    assert (recovered.sent, recovered.parked) == (1, 1)
    poison.refresh_from_db()
    healthy.refresh_from_db()
    assert healthy.status == "sent"
    assert poison.status == "unknown" and "a bug in one row" in poison.error
    assert len(mail.outbox) == 2


def test_one_row_that_breaks_does_not_strand_the_rest_of_its_batch(db):
    rows = digests(3)
    real_mark_sent = outbox.mark_sent

    def mark_sent(kind, row, **kwargs):
        if row.pk == rows[0].pk:
            raise ValueError("a bug in one row's follow-up")
        return real_mark_sent(kind, row, **kwargs)

    with mock.patch("crm_site.outbox.mark_sent", mark_sent):
        assert outbox.send_due(DIGESTS) == 2
    statuses = dict(FollowUpDigest.objects.values_list("pk", "status"))
    assert statuses == {rows[0].pk: "sending", rows[1].pk: "sent", rows[2].pk: "sent"}
