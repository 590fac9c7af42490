from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from crm_site import celery as celery_module
from crm_site.celery import app
from crm_site.models import Heartbeat
from crm_site.tasks import heartbeat


def test_heartbeat_task_records_the_worker_and_is_safe_to_run_twice(db):
    heartbeat()
    first = Heartbeat.objects.get(component="worker").last_seen
    heartbeat()
    assert Heartbeat.objects.filter(component="worker").count() == 1
    assert Heartbeat.objects.get(component="worker").last_seen >= first


def test_publishing_the_heartbeat_records_a_beat_tick(db):
    celery_module._record_beat_tick(sender="crm_site.tasks.heartbeat")
    assert Heartbeat.objects.get(
        component="beat"
    ).last_seen > timezone.now() - timedelta(seconds=5)


def test_publishing_other_tasks_is_not_a_beat_tick(db):
    celery_module._record_beat_tick(sender="customers.tasks.something")
    assert not Heartbeat.objects.exists()


def test_celery_is_configured_for_json_late_acks_and_time_limits():
    conf = app.conf
    assert conf.task_serializer == "json"
    assert conf.accept_content == ["json"]
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.task_time_limit and conf.task_soft_time_limit
    assert "heartbeat" in conf.beat_schedule


def test_beat_and_worker_starting_count_as_heartbeats(db):
    celery_module._record_beat_start()
    celery_module._record_worker_start()
    assert set(Heartbeat.objects.values_list("component", flat=True)) == {
        "beat",
        "worker",
    }


def test_every_background_job_is_scheduled_and_registered(settings):
    from crm_site.celery import app

    app.loader.import_default_modules()
    schedule = settings.CELERY_BEAT_SCHEDULE
    for entry in schedule.values():
        assert entry["task"] in app.tasks, entry["task"]
    scheduled = {entry["task"] for entry in schedule.values()}
    for job in (
        "sales.tasks.follow_up_digest",
        "sales.tasks.digests_send_pending",
        "sales.tasks.registrations_sweep",
        "sales.tasks.registrations_warn",
        "sales.tasks.dashboard_warm",
        "service.tasks.escalations_sweep",
        "service.tasks.survey_invitations_send",
        "service.tasks.survey_reminders_send",
        "service.tasks.handover_notices_send",
        "marketing.tasks.invitations_pump",
        "marketing.tasks.points_sweep",
    ):
        assert job in scheduled, job
    digest = schedule["sales-follow-up-digest"]["schedule"]
    assert digest.hour == {settings.FOLLOW_UP_DIGEST_HOUR}


def test_the_workers_pool_processes_give_the_pages_the_cpu_first(settings):
    """Each pool process lowers its priority by CELERY_WORKER_NICE (a child process
    here: niceness cannot be raised back)."""
    import multiprocessing
    import os

    from crm_site.celery import _lower_priority

    def child(queue) -> None:
        before = os.nice(0)
        _lower_priority()
        queue.put(os.nice(0) - before)

    for nice, expected in ((10, 10), (0, 0)):
        settings.CELERY_WORKER_NICE = nice
        queue = multiprocessing.get_context("fork").Queue()
        process = multiprocessing.get_context("fork").Process(
            target=child, args=(queue,)
        )
        process.start()
        process.join(10)
        assert queue.get(timeout=5) == expected
