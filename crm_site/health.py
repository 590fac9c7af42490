"""Checks behind /health/: the database, Redis, the Celery worker and beat."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm_site.models import Heartbeat


@dataclass(frozen=True)
class Check:
    name: str
    label: str
    ok: bool
    detail: str
    last_seen: datetime | None = None

    def as_json(self) -> dict:
        data = {"status": "ok" if self.ok else "fail", "detail": self.detail}
        if self.last_seen is not None:
            data["last_seen"] = self.last_seen.isoformat()
        return data


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means the database is down
        return Check("database", _("Database"), False, type(exc).__name__)
    return Check("database", _("Database"), True, connection.vendor)


def check_redis() -> Check:
    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL,
            socket_timeout=settings.REDIS_SOCKET_TIMEOUT,
            socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT,
        )
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means Redis is down
        return Check("redis", _("Redis"), False, type(exc).__name__)
    return Check("redis", _("Redis"), True, "PONG")


def check_heartbeats() -> list[Check]:
    seen = {hb.component: hb.last_seen for hb in Heartbeat.objects.all()}
    max_age = timedelta(seconds=settings.HEALTH_HEARTBEAT_MAX_AGE)
    now = timezone.now()
    checks = []
    for component, label in Heartbeat.Component.choices:
        last = seen.get(component)
        if last is None:
            checks.append(Check(component, label, False, "never seen"))
            continue
        age = int((now - last).total_seconds())
        checks.append(
            Check(component, label, now - last <= max_age, f"{age}s ago", last)
        )
    return checks


def run_checks() -> list[Check]:
    database = check_database()
    checks = [database, check_redis()]
    if database.ok:
        checks.extend(check_heartbeats())
    else:
        checks.extend(
            Check(c, label, False, "database unavailable")
            for c, label in Heartbeat.Component.choices
        )
    return checks
