"""Daily and hourly jobs run once per period, and a run missed while the stack was
down is caught up once (crm_site.jobs). Time is passed in as ``now``."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from crm_site import jobs
from crm_site.models import JobRun
from sales.models import FollowUpDigest
from tests.factories import CustomerFactory


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime(2026, 12, day, hour, minute))


@pytest.fixture
def digest_day(consultant, settings, monkeypatch):
    """Follow-ups due on 2 December; the digest hour is 08:00; send tasks recorded."""
    from sales import tasks

    settings.FOLLOW_UP_DIGEST_HOUR = 8
    CustomerFactory(assigned_consultant=consultant, next_follow_up=local(2, 0).date())
    queued: list[int] = []
    monkeypatch.setattr(tasks.digest_send, "delay", queued.append)
    return queued


def test_the_digest_is_not_produced_before_its_hour(digest_day):
    assert jobs.catch_up(now=local(2, 7, 59)) == [
        "registrations_warn",
        "marketing.points_sweep",
    ]
    assert not FollowUpDigest.objects.exists()


def test_a_digest_missed_at_its_hour_is_produced_once_when_the_stack_is_back(
    digest_day, consultant, django_capture_on_commit_callbacks
):
    # Beat was down at 08:00; the stack came back at 09:30.
    with django_capture_on_commit_callbacks(execute=True):
        assert "follow_up_digest" in jobs.catch_up(now=local(2, 9, 30))
    digest = FollowUpDigest.objects.get()
    assert digest.user == consultant and digest.day == local(2, 0).date()
    assert digest_day == [digest.pk]
    run = JobRun.objects.get(name="follow_up_digest")
    assert run.last_period == "2026-12-02" and run.last_result == "1 digests to send"
    # Every later catch-up that day, and the delayed 08:00 beat entry, do nothing.
    with django_capture_on_commit_callbacks(execute=True):
        assert "follow_up_digest" not in jobs.catch_up(now=local(2, 9, 35))
        assert jobs.job_run("follow_up_digest", now=local(2, 23, 59)) is None
    assert digest_day == [digest.pk] and FollowUpDigest.objects.count() == 1


def test_the_scheduled_run_and_the_catch_up_run_the_digest_once_a_day(
    digest_day, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.job_run("follow_up_digest", now=local(2, 8)) is not None
        assert "follow_up_digest" not in jobs.catch_up(now=local(2, 8, 5))
        # The next day, at its hour, it runs again.
        assert "follow_up_digest" in jobs.catch_up(now=local(3, 8, 5))
    assert JobRun.objects.get(name="follow_up_digest").last_period == "2026-12-03"
    assert len(digest_day) == 2


def test_a_job_that_fails_is_tried_again_by_the_next_catch_up(digest_day, monkeypatch):
    from sales.services import reminders

    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(reminders, "digests_build", broken)
    with pytest.raises(RuntimeError):
        jobs.job_run("follow_up_digest", now=local(2, 8))
    assert JobRun.objects.get(name="follow_up_digest").last_period == ""
    monkeypatch.undo()
    assert jobs.job_run("follow_up_digest", now=local(2, 8, 5)) is not None


def test_hourly_jobs_run_once_an_hour(db):
    assert jobs.job_run("registrations_warn", now=local(2, 10, 1)) == "0 warned"
    assert jobs.job_run("registrations_warn", now=local(2, 10, 59)) is None
    assert jobs.job_run("registrations_warn", now=local(2, 11)) == "0 warned"
    assert JobRun.objects.get(name="registrations_warn").last_period == (
        "2026-12-02T11"
    )


def test_the_catch_up_task_and_the_sweeps_record_their_runs(db, monkeypatch):
    from crm_site import tasks as site_tasks
    from service import tasks as service_tasks

    monkeypatch.setattr(jobs, "catch_up", lambda: ["nothing"])
    assert site_tasks.jobs_catch_up() == ["nothing"]
    before = timezone.now() - timedelta(seconds=1)
    assert service_tasks.handover_notices_send() == 0
    run = JobRun.objects.get(name="service.handover_notices_send")
    assert run.last_finished >= before and run.last_result == "0"
