from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from crm_site.models import JobRun, Notification
from customers.models import Customer
from sales.models import FollowUpDigest, FollowUpEscalation
from sales.services import reminders
from tests.factories import CustomerFactory
from tests.helpers import assert_queries_do_not_grow


@pytest.fixture
def follow_ups(consultant, other_consultant):
    today = timezone.localdate()
    CustomerFactory(name="今天", assigned_consultant=consultant, next_follow_up=today)
    CustomerFactory(
        name="昨天",
        assigned_consultant=consultant,
        next_follow_up=today - timedelta(days=1),
    )
    CustomerFactory(
        name="很久",
        assigned_consultant=consultant,
        next_follow_up=today - timedelta(days=5),
    )
    CustomerFactory(
        name="明天",
        assigned_consultant=consultant,
        next_follow_up=today + timedelta(days=1),
    )
    CustomerFactory(
        name="别人", assigned_consultant=other_consultant, next_follow_up=today
    )


def test_digest_rows_once_per_consultant_and_day(follow_ups, consultant):
    first = reminders.digests_build()
    second = reminders.digests_build()
    assert len(first) == 2 and sorted(first) == sorted(second)
    digest = FollowUpDigest.objects.get(user=consultant)
    assert (digest.due_today, digest.overdue) == (1, 2)
    # Ids and dates only: the names are read when the digest is composed.
    names = dict(Customer.objects.values_list("pk", "name"))
    assert [names[row["id"]] for row in digest.payload["follow_ups"]] == [
        "很久",
        "昨天",
        "今天",
    ]
    assert all(set(row) == {"id", "date"} for row in digest.payload["follow_ups"])


def test_sending_twice_delivers_once_in_the_app_and_by_mail(follow_ups, consultant):
    reminders.digests_build()
    digest = FollowUpDigest.objects.get(user=consultant)
    assert reminders.digest_send(digest_id=digest.pk) is True
    assert reminders.digest_send(digest_id=digest.pk) is False
    assert len(mail.outbox) == 1 and consultant.email in mail.outbox[0].to
    assert Notification.objects.filter(user=consultant).count() == 1
    digest.refresh_from_db()
    assert digest.status == "sent"


def test_a_digest_whose_message_was_lost_is_sent_later_exactly_once(
    follow_ups, consultant
):
    # The broker was down: the rows exist, no message ever reached a worker.
    reminders.digests_build()
    FollowUpDigest.objects.update(created_at=timezone.now() - timedelta(minutes=5))
    stale = reminders.digests_stale()
    assert len(stale) == 2
    for digest_id in stale + stale:
        reminders.digest_send(digest_id=digest_id)
    assert len(mail.outbox) == 2
    assert reminders.digests_stale() == []


def test_a_worker_that_died_mid_send_is_retried(follow_ups, consultant):
    reminders.digests_build()
    digest = FollowUpDigest.objects.get(user=consultant)
    FollowUpDigest.objects.filter(pk=digest.pk).update(
        status="sending",
        claimed_at=timezone.now() - timedelta(minutes=30),
        created_at=timezone.now() - timedelta(minutes=30),
    )
    assert digest.pk in reminders.digests_stale()
    assert reminders.digest_send(digest_id=digest.pk) is True


def test_old_overdue_follow_ups_escalate_to_the_manager_once(
    follow_ups, consultant, sales_manager
):
    assert reminders.escalations_build(day=timezone.localdate()) == 1
    assert reminders.escalations_build(day=timezone.localdate()) == 0
    assert FollowUpEscalation.objects.get().customer.name == "很久"
    assert Notification.objects.filter(user=sales_manager).count() == 1


def test_digest_task_queues_one_send_per_row_on_commit_and_runs_once_a_day(
    follow_ups, monkeypatch, settings, django_capture_on_commit_callbacks
):
    from sales import tasks

    settings.FOLLOW_UP_DIGEST_HOUR = 0  # whenever the test runs, the hour has passed
    sent = []
    monkeypatch.setattr(
        tasks.digest_send, "delay", lambda digest_id: sent.append(digest_id)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.follow_up_digest() == "2 digests to send"
    assert len(sent) == 2
    assert JobRun.objects.get(name="follow_up_digest").last_result == (
        "2 digests to send"
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.follow_up_digest() is None  # the same day: nothing
    assert len(sent) == 2


def test_my_day_lists_today_overdue_and_is_the_consultants_home(
    client, follow_ups, consultant
):
    client.force_login(consultant)
    response = client.get(reverse("home"))
    assert response.status_code == 302 and response.url == reverse("sales:my-day")
    page = client.get(reverse("sales:my-day"))
    assert [c.name for c in page.context["due_today"]] == ["今天"]
    assert [c.name for c in page.context["overdue"]] == ["很久", "昨天"]
    assert 'data-testid="digest-job"' in page.content.decode()


def test_my_day_query_count_does_not_grow(client, consultant):
    client.force_login(consultant)
    today = timezone.localdate()
    assert_queries_do_not_grow(
        lambda: client.get(reverse("sales:my-day")),
        lambda: CustomerFactory.create_batch(
            15, assigned_consultant=consultant, next_follow_up=today
        ),
        at_most=14,
    )


def test_my_day_is_for_sales(client, service_agent):
    client.force_login(service_agent)
    assert client.get(reverse("sales:my-day")).status_code == 403


def test_a_deactivated_consultant_is_sent_no_list_of_names(follow_ups, consultant):
    # Someone who left, their customers not yet handed on: no digest is written, and
    # one written before the account was closed is skipped at send time.
    consultant.is_active = False
    consultant.save(update_fields=["is_active"])
    assert (
        not reminders.digests_build()
        or not FollowUpDigest.objects.filter(user=consultant).exists()
    )
    FollowUpDigest.objects.create(
        user=consultant, day=timezone.localdate(), due_today=1
    )
    for digest_id in FollowUpDigest.objects.values_list("pk", flat=True):
        reminders.digest_send(digest_id=digest_id)
    assert [m for m in mail.outbox if consultant.email in m.to] == []
    assert FollowUpDigest.objects.get(user=consultant).status == "skipped"
