"""Imports a lost task or a dead worker left behind are found by the sweep
(customers.services.imports.import_sweep, beat: customers.tasks.imports_sweep)."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone, translation

from customers import tasks
from customers.models import Customer, ImportJob
from customers.services import imports

HEADER = "姓名,手机,公司\n"
TWO_ROWS = HEADER + "甲,13812345670,\n乙,13812345671,\n"
MOBILES = ["+8613812345670", "+8613812345671"]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


def checked(actor, text: str = TWO_ROWS) -> ImportJob:
    job = imports.import_upload(
        actor=actor,
        uploaded_file=SimpleUploadedFile(
            "客户.csv", text.encode("utf-8-sig"), content_type="text/csv"
        ),
    )
    return imports.import_check(job=job, mapping=job.mapping)


class WorkerKilled(BaseException):
    """What a run sees of SIGKILL, the hard time limit or the OOM killer: no
    ``except Exception`` catches it."""


def killed_after_first_batch(job: ImportJob, monkeypatch) -> None:
    """Run the import until its worker dies in the second batch (the first batch is
    committed)."""
    monkeypatch.setattr(imports, "BATCH_SIZE", 1)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.QUEUED)
    real_apply = imports._apply
    calls = []

    def apply(job, verdicts):
        calls.append(1)
        if len(calls) == 2:
            raise WorkerKilled
        real_apply(job, verdicts)

    monkeypatch.setattr(imports, "_apply", apply)
    with pytest.raises(WorkerKilled):
        imports.import_run(job_id=job.pk)
    monkeypatch.setattr(imports, "_apply", real_apply)


def hard_limit() -> timedelta:
    return timedelta(seconds=tasks.import_run.time_limit)


def started(job: ImportJob, ago: timedelta) -> None:
    ImportJob.objects.filter(pk=job.pk).update(started_at=timezone.now() - ago)


def test_an_import_whose_worker_died_mid_run_is_failed_and_undone_by_the_sweep(
    sales_manager, monkeypatch
):
    job = checked(sales_manager)
    killed_after_first_batch(job, monkeypatch)
    assert Customer.objects.filter(mobile__in=MOBILES).count() == 1
    # The redelivered task (acks_late) finds the job taken: it stays half-written.
    imports.import_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.RUNNING
    started(job, hard_limit() + imports.SWEEP_MARGIN + timedelta(seconds=1))

    result = imports.import_sweep()

    job.refresh_from_db()
    assert result.failed == 1
    # All or nothing: the batch it committed is reverted, the reason is kept.
    assert job.status == ImportJob.Status.REVERTED
    assert job.error == (
        "The import was interrupted before it finished: its worker stopped."
    )
    assert job.finished_at is not None
    assert not Customer.objects.filter(mobile__in=MOBILES).exists()


def test_the_sweep_fails_a_dead_run_once_however_often_it_runs(
    sales_manager, monkeypatch
):
    job = checked(sales_manager)
    killed_after_first_batch(job, monkeypatch)
    started(job, timedelta(hours=3))
    with mock.patch.object(
        imports, "_undo_failed_run", wraps=imports._undo_failed_run
    ) as undo:
        first = imports.import_sweep()
        second = imports.import_sweep()
    assert (first.failed, second.failed) == (1, 0)
    undo.assert_called_once()


def test_the_sweep_leaves_a_run_within_its_tasks_hard_time_limit_alone(
    sales_manager, monkeypatch
):
    job = checked(sales_manager)
    killed_after_first_batch(job, monkeypatch)
    # A 300,000-row import may run up to the task's hard time limit (960 s).
    assert tasks.import_run.time_limit == 960
    started(job, hard_limit() - timedelta(seconds=5))
    assert imports.import_sweep().failed == 0
    job.refresh_from_db()
    assert job.status == ImportJob.Status.RUNNING
    assert Customer.objects.filter(mobile__in=MOBILES).count() == 1


def test_a_queued_import_whose_task_was_lost_is_queued_again_and_runs(
    sales_manager,
):
    job = checked(sales_manager)
    with mock.patch.object(tasks.import_run, "delay") as delay:
        imports.import_start(job=job, actor=sales_manager)
    job.refresh_from_db()
    # The time it was queued: until a worker claims it, the sweep reads it.
    assert job.status == ImportJob.Status.QUEUED and job.started_at
    with mock.patch.object(tasks.import_run, "delay") as delay:
        # Just queued: its own message is probably on its way.
        assert imports.import_sweep().requeued == 0
        started(job, imports.REQUEUE_AFTER + timedelta(seconds=1))
        assert imports.import_sweep().requeued == 1
        # Queued again at most once per interval, by one sweep.
        assert imports.import_sweep().requeued == 0
    delay.assert_called_once_with(job.pk)
    tasks.import_run(job.pk)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE
    assert Customer.objects.filter(mobile__in=MOBILES).count() == 2
    # The late original message finds the job done: nothing twice.
    tasks.import_run(job.pk)
    assert Customer.objects.filter(mobile__in=MOBILES).count() == 2


def test_a_dry_run_whose_task_was_lost_is_queued_again(sales_manager):
    job = imports.import_upload(
        actor=sales_manager,
        uploaded_file=SimpleUploadedFile(
            "客户.csv", TWO_ROWS.encode("utf-8-sig"), content_type="text/csv"
        ),
    )
    with mock.patch.object(tasks.import_check, "delay"):
        imports.import_check_queue(job=job, actor=sales_manager, mapping=job.mapping)
    with mock.patch.object(tasks.import_check, "delay") as delay:
        assert imports.import_sweep().checks_requeued == 0
        started(job, imports.REQUEUE_AFTER + timedelta(seconds=1))
        assert imports.import_sweep().checks_requeued == 1
        assert imports.import_sweep().checks_requeued == 0
    delay.assert_called_once_with(job.pk)
    tasks.import_check(job.pk)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.CHECKED
    assert job.created_count == 2


def test_a_dry_run_whose_worker_died_goes_back_to_the_mapping_with_an_error(
    sales_manager,
):
    job = checked(sales_manager)
    # Half read when its worker died: progress written, never finished.
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.CHECKING, processed_rows=1000
    )
    started(job, timedelta(seconds=tasks.import_check.time_limit - 5))
    with mock.patch.object(tasks.import_check, "delay") as delay:
        assert imports.import_sweep().checks_stopped == 0
        started(job, timedelta(hours=1))
        assert imports.import_sweep().checks_stopped == 1
    delay.assert_not_called()
    job.refresh_from_db()
    assert job.status == ImportJob.Status.UPLOADED
    assert job.error == "The dry run stopped with an error. Try again."


def test_the_sweep_task_runs_the_sweep_and_records_its_run(sales_manager):
    from crm_site.models import JobRun

    job = checked(sales_manager)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.QUEUED)
    with mock.patch.object(tasks.import_run, "delay") as delay:
        tasks.imports_sweep()
        tasks.imports_sweep()
    delay.assert_called_once_with(job.pk)
    assert JobRun.objects.filter(name="customers.imports_sweep").exists()


def test_the_sweep_is_scheduled(settings):
    """Fails until the beat entry "customers-imports-sweep" is in settings."""
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "customers.tasks.imports_sweep" in scheduled


def test_a_dead_run_whose_undo_was_interrupted_is_undone_by_a_later_sweep(
    sales_manager, monkeypatch
):
    job = checked(sales_manager)
    killed_after_first_batch(job, monkeypatch)
    started(job, timedelta(hours=3))
    # The undo itself is cut short (its time limit, a lock, a dead worker).
    with mock.patch.object(imports, "import_revert", side_effect=RuntimeError("cut")):
        assert imports.import_sweep().failed == 1
    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    assert Customer.objects.filter(mobile__in=MOBILES).count() == 1
    # Not at once (the undo may still be running), but at a sweep after that.
    assert imports.import_sweep().undone == 0
    later = timezone.now() + imports.REQUEUE_AFTER + timedelta(minutes=1)
    assert imports.import_sweep(now=later).undone == 1
    job.refresh_from_db()
    assert job.status == ImportJob.Status.REVERTED
    assert not Customer.objects.filter(mobile__in=MOBILES).exists()
    assert imports.import_sweep(now=later).undone == 0
