"""Every periodic job survives running twice: the guard for the whole beat schedule.

The house rule (STYLE.md, Background work): what must happen later is a row first and
a message second, and a job that runs twice or after a crash does its work once. On
the demo data, at several moments (now, and days to a year later, when holds,
registrations, deadlines, surveys and reminders have come due), every entry of
CELERY_BEAT_SCHEDULE runs once, the tasks it queues run at once in-process as a
worker would (or are lost with the broker, and the sweeps must deliver their rows),
then everything runs twice more at the same moment, in two orders: those passes may
change rows (a heartbeat, a JobRun's time) but add none, delete none, queue nothing
and send nothing. The daily and hourly jobs' bodies (crm_site.jobs) run too, past
their period guard: each must be keyed on its own (a warning per registration, a
digest per consultant and day).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from io import StringIO

import pytest
from celery.app.task import Task
from django.apps import apps
from django.conf import settings
from django.core import mail
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from crm_site import jobs, messaging, outbox

# Tables whose row count may change on any run without anything happening twice,
# each with its reason; keep this list short. None so far: the heartbeat
# (crm_site_heartbeat), the jobs' JobRun rows and the insight's dirty marks are
# written in place or emptied by the run that reads them, and the caches the
# warmers fill live in Redis, not in a table.
SKIPPED_TABLES: dict[str, str] = {}


def _tables() -> list[str]:
    tables = {
        model._meta.db_table
        for model in apps.get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy
    }
    return sorted(tables - SKIPPED_TABLES.keys())


def _snapshot(tables: list[str]) -> Counter:
    """Row counts of every table, each outbox kind's rows by status, and the
    messages handed to the SMS and e-mail backends: one query for the counts."""
    quote = connection.ops.quote_name
    sql = " UNION ALL ".join(
        f"SELECT %s, COUNT(*) FROM {quote(table)}" for table in tables
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, tables)
        counts = Counter({f"table {name}": n for name, n in cursor.fetchall()})
    for kind in outbox.kinds():
        rows = kind.model._base_manager.values("status").annotate(n=Count("pk"))
        for row in rows:
            counts[f"outbox {kind.name} {row['status']}"] = row["n"]
    counts["sms handed to the provider"] = len(messaging.sms_outbox)
    counts["e-mails handed to the provider"] = len(getattr(mail, "outbox", []))
    return counts


def _diff(before: Counter, after: Counter) -> dict[str, tuple[int, int]]:
    return {
        key: (before[key], after[key])
        for key in sorted(before.keys() | after.keys())
        if before[key] != after[key]
    }


def _entries() -> list[tuple[str, Callable[[], object]]]:
    """(name, run) for every beat entry, then every period job's body (at the
    clock's time when it runs), the insight's refresh last."""
    from crm_site.celery import app

    app.loader.import_default_modules()
    entries: list[tuple[str, Callable[[], object]]] = []
    for key, entry in settings.CELERY_BEAT_SCHEDULE.items():
        task = app.tasks[entry["task"]]
        args, kwargs = tuple(entry.get("args", ())), dict(entry.get("kwargs", {}))
        entries.append(
            (
                f"beat {key} ({entry['task']})",
                lambda task=task, args=args, kwargs=kwargs: task.apply(
                    args=args, kwargs=kwargs, throw=True
                ),
            )
        )

    def body(job: jobs.ScheduledJob) -> Callable[[], object]:
        # What job_run does inside its guard, without the guard.
        def run() -> object:
            with transaction.atomic():
                return job.run(now=timezone.now())

        return run

    for job in jobs.registered():
        entries.append((f"job body {job.name}", body(job)))
    # The insight's refresh reads what the other jobs write (an SMS sent is a line
    # on the customer's timeline): in the first pass it comes last, as a worker
    # catches up after them, so the passes that follow find nothing left for it.
    return sorted(entries, key=lambda entry: "insight_refresh" in entry[0])


# The moments the schedule runs at: now, on the demo data as it is, then later, when
# holds, registrations, service deadlines, the handover survey (7 days) and its
# reminder (5 days after it), campaigns' end dates and years of ownership have come
# due. The clock stands still at each, so the second run is at the same moment as the
# first. "Now" is a minute on: a column's default (``default=timezone.now``) reads the
# real clock, and a row stamped a second after the frozen moment would not be due.
# At the moments marked lost, the broker loses every task the first pass queues (a
# Redis outage): the next pass's sweeps must deliver the rows, each once.
MOMENTS = (
    (timedelta(minutes=1), False),
    (timedelta(days=8, hours=1), True),
    (timedelta(days=14, hours=2), False),
    (timedelta(days=61, hours=3), True),
    (timedelta(days=400, hours=4), False),
)


@pytest.mark.django_db
def test_every_periodic_job_run_a_second_time_creates_and_sends_nothing(
    request, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.SMS_BACKEND = "crm_site.messaging.LocMemSmsBackend"
    messaging.sms_outbox.clear()
    # The warmers cache dashboards of the demo data: no later test may read them.
    request.addfinalizer(cache.clear)
    request.addfinalizer(messaging.sms_outbox.clear)
    call_command("demo_data", customers=120, stdout=StringIO())

    # A worker takes every task a job queues: run it here, at once, so the second
    # pass finds what the first one's tasks did (and a re-queued task shows).
    queued: list[str] = []

    lost = False

    def run_now(task, args=None, kwargs=None, **options):
        queued.append(task.name)
        if lost:
            return None
        return task.apply(args=args, kwargs=kwargs, throw=True)

    monkeypatch.setattr(Task, "apply_async", run_now)

    entries = _entries()
    tables = _tables()

    def run_pass(order, *, check: bool) -> None:
        for name, run in order:
            before = _snapshot(tables) if check else None
            queued.clear()
            with django_capture_on_commit_callbacks(execute=True):
                run()
            if check:
                changed = _diff(before, _snapshot(tables))
                assert not changed and not queued, (
                    f"{name} run a second time at {timezone.now():%Y-%m-%d %H:%M} "
                    f"changed {changed} (before, after) and queued {queued}"
                )

    real_now = timezone.now()
    for offset, broker_lost in MOMENTS:
        moment = real_now + offset
        monkeypatch.setattr(timezone, "now", lambda moment=moment: moment)
        # The first pass does the work that is due (its tasks lost, or run at once);
        # after it, with a worker, nothing due may be left unsent, and the next pass,
        # in the other order, must find nothing left to do.
        lost = broker_lost
        run_pass(entries, check=False)
        lost = False
        if broker_lost:
            run_pass(entries, check=False)
        for kind in outbox.kinds():
            left = outbox.due_ids(kind, now=moment)
            assert not left, f"{kind.name} rows {left} due at {moment} never sent"
        run_pass(list(reversed(entries)), check=True)
