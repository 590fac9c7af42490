"""The Celery application: JSON messages, late acknowledgement, schedule in settings."""

from __future__ import annotations

import logging
import os
import threading
import time

from celery import Celery, bootsteps
from celery.contrib.django.task import DjangoTask
from celery.signals import (
    beat_init,
    before_task_publish,
    celeryd_init,
    worker_process_init,
    worker_ready,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_site.settings")

logger = logging.getLogger(__name__)

# After a failed publish, tasks are not published for this many seconds (per process):
# a request while the broker hangs pays the socket timeout once, not on every task.
PUBLISH_RETRY_AFTER = 5.0


class _PublishBreaker:
    def __init__(self) -> None:
        self.until = 0.0

    def is_open(self) -> bool:
        return time.monotonic() < self.until

    def trip(self) -> None:
        self.until = time.monotonic() + PUBLISH_RETRY_AFTER

    def reset(self) -> None:
        self.until = 0.0


publish_breaker = _PublishBreaker()


class RowFirstTask(DjangoTask):
    """A task whose publication may fail without failing the caller.

    Every piece of work is a database row first and its message second; a periodic
    sweeper picks up rows whose message was lost. So when the broker is down or hangs,
    publishing is logged and skipped (None instead of an AsyncResult): a request that
    queues a task after its commit never errors and never waits more than the short
    broker socket timeout (settings.CELERY_BROKER_TRANSPORT_OPTIONS).
    """

    abstract = True

    # delay_on_commit() (DjangoTask) publishes through apply_async, so it is covered.
    def apply_async(self, *args, **kwargs):
        if publish_breaker.is_open():
            logger.warning(
                "broker unavailable: %s not queued (picked up later)", self.name
            )
            return None
        try:
            result = super().apply_async(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - kombu/redis raise many error types
            publish_breaker.trip()
            logger.warning(
                "broker unavailable: %s not queued (picked up later): %s: %s",
                self.name,
                type(exc).__name__,
                exc,
            )
            return None
        publish_breaker.reset()
        return result


app = Celery("crm_site", task_cls=RowFirstTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

HEARTBEAT_TASK = "crm_site.tasks.heartbeat"


@celeryd_init.connect
def _worker_broker_timeouts(**kwargs: object) -> None:
    # The short socket timeout is for publishers (web requests, beat). The worker's
    # own connection waits on BRPOP and restores unacknowledged messages: it gets
    # more room, while kombu's health checks still drop a dead connection.
    from django.conf import settings

    app.conf.broker_transport_options = {
        **app.conf.broker_transport_options,
        "socket_timeout": settings.CELERY_WORKER_BROKER_SOCKET_TIMEOUT,
    }


@before_task_publish.connect
def _record_beat_tick(sender: str | None = None, **kwargs: object) -> None:
    # Only beat publishes the heartbeat task, so its publication is the beat tick.
    if sender == HEARTBEAT_TASK:
        from crm_site.models import Heartbeat

        Heartbeat.beat(Heartbeat.Component.BEAT)


@worker_process_init.connect
def _lower_priority(**kwargs: object) -> None:
    """Each pool process runs at a lower CPU priority (settings.CELERY_WORKER_NICE):
    when the pages and background work both want the cores, as in opening day's
    rush while the worker signs the claimed units' paperwork, the pages go first.
    Idle cores still run the tasks at full speed."""
    from django.conf import settings

    if settings.CELERY_WORKER_NICE > 0:
        os.nice(settings.CELERY_WORKER_NICE)


@worker_ready.connect
def _record_worker_start(**kwargs: object) -> None:
    from crm_site.models import Heartbeat

    Heartbeat.beat(Heartbeat.Component.WORKER)


@beat_init.connect
def _record_beat_start(**kwargs: object) -> None:
    # /health/ shows beat alive from its start, not only from its first tick.
    from crm_site.models import Heartbeat

    Heartbeat.beat(Heartbeat.Component.BEAT)


class WorkerHeartbeat(bootsteps.StartStopStep):
    """The worker's main process records that it is alive every few seconds.

    A thread of its own, so the heartbeat depends neither on beat (which publishes the
    heartbeat task) nor on a free pool slot (a long campaign send would delay the
    task). It beats only while the consumer runs, so a worker that lost its broker
    connection stops beating too. `kill -9` of the main process stops it at once.
    """

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent, **kwargs):
        super().__init__(parent, **kwargs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, parent) -> None:
        from django.conf import settings

        interval = settings.HEALTH_HEARTBEAT_INTERVAL
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run,
            args=(parent, interval),
            name="anju-heartbeat",
            daemon=True,
        )
        self._thread.start()

    def stop(self, parent) -> None:
        self._stop.set()

    shutdown = stop

    def _run(self, consumer, interval: float) -> None:
        from django.db import close_old_connections

        from crm_site.models import Heartbeat

        while not self._stop.wait(interval):
            connection = getattr(consumer, "connection", None)
            if connection is None or not connection.connected:
                continue
            try:
                close_old_connections()
                Heartbeat.beat(Heartbeat.Component.WORKER)
            except Exception as exc:  # noqa: BLE001 - the database may be down
                logger.warning("worker heartbeat not recorded: %s", exc)
            finally:
                close_old_connections()


app.steps["consumer"].add(WorkerHeartbeat)
