"""Periodic jobs that must run once per day (or hour), even after an outage.

A job is registered with its period and, for a daily job, the local hour it is due.
``job_run`` runs it for the current period at most once: the JobRun row of the job is
locked, its ``last_period`` compared and updated in the same transaction as the job's
own writes, so the beat entry at the hour and the catch-up sweep (``catch_up``, every
few minutes) never both run it, and a job that fails is tried again by the next sweep.
A stack that was down at 08:00 produces the morning digest when it comes back.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from crm_site.models import JobRun

DAILY = "daily"
HOURLY = "hourly"


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    every: str
    # The job's body: does its work for the period containing ``now``, returns a short
    # result for the JobRun row. Runs inside the guard's transaction.
    run: Callable[..., str]
    # Daily jobs: the local hour they are due (read when asked, so settings apply).
    hour: Callable[[], int] | None = None


_jobs: dict[str, ScheduledJob] = {}


def register(job: ScheduledJob) -> ScheduledJob:
    """Apps register their jobs in AppConfig.ready()."""
    _jobs[job.name] = job
    return job


def registered() -> list[ScheduledJob]:
    return list(_jobs.values())


def period_of(job: ScheduledJob, now: datetime) -> tuple[str, datetime]:
    """The current period's key and the time from which its run is due."""
    local = timezone.localtime(now)
    if job.every == HOURLY:
        start = local.replace(minute=0, second=0, microsecond=0)
        return start.strftime("%Y-%m-%dT%H"), start
    hour = job.hour() if job.hour else 0
    due = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    return local.date().isoformat(), due


def job_run(name: str, *, now: datetime | None = None) -> str | None:
    """Run the job for the current period if that is due and not done yet; returns
    its result, or None when there was nothing to do."""
    job = _jobs[name]
    now = now or timezone.now()
    key, due = period_of(job, now)
    if now < due:
        return None
    JobRun.objects.bulk_create([JobRun(name=name)], ignore_conflicts=True)
    with transaction.atomic():
        record = JobRun.objects.select_for_update().get(name=name)
        if record.last_period == key:
            return None
        started = timezone.now()
        result = job.run(now=now)
        record.last_period = key
        record.last_started = started
        record.last_finished = timezone.now()
        record.last_result = result[:200]
        record.save()
    return result


def catch_up(*, now: datetime | None = None) -> list[str]:
    """Run every registered job whose current period is due and not yet done (the
    beat entry was missed: beat or the worker was down). Returns the jobs that ran."""
    now = now or timezone.now()
    return [job.name for job in registered() if job_run(job.name, now=now) is not None]


def tracked(name: str) -> Callable:
    """Records every run of a periodic task that is not period-guarded (a sweep: any
    run catches up everything a missed one left) on its JobRun row."""

    def decorate(body: Callable) -> Callable:
        @functools.wraps(body)
        def run(*args, **kwargs):
            started = timezone.now()
            result = body(*args, **kwargs)
            JobRun.record(name, started=started, result=str(result))
            return result

        return run

    return decorate
