"""The Celery application: JSON messages, late acknowledgement, schedule in settings."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import beat_init, before_task_publish, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_site.settings")

app = Celery("crm_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

HEARTBEAT_TASK = "crm_site.tasks.heartbeat"


@before_task_publish.connect
def _record_beat_tick(sender: str | None = None, **kwargs: object) -> None:
    # Only beat publishes the heartbeat task, so its publication is the beat tick.
    if sender == HEARTBEAT_TASK:
        from crm_site.models import Heartbeat

        Heartbeat.beat(Heartbeat.Component.BEAT)


@worker_ready.connect
def _record_worker_start(**kwargs: object) -> None:
    from crm_site.models import Heartbeat

    Heartbeat.beat(Heartbeat.Component.WORKER)


@beat_init.connect
def _record_beat_start(**kwargs: object) -> None:
    # /health/ shows beat alive from its start, not only from its first tick.
    from crm_site.models import Heartbeat

    Heartbeat.beat(Heartbeat.Component.BEAT)
