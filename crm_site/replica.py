"""Reads off the primary: reporting pages and exports read from a streaming replica.

The managers' overview, the explorer, the dashboards and the exports scan months of
rows; on the primary they compete with the consultants' writes on an opening day.
With DATABASE_REPLICA_URL set (crm_site/settings.py, docs/replica.md), the code that
opts in reads from a PostgreSQL streaming replica instead:

- a view with ``@reads_from_replica``, a task or command inside ``with replica_reads():``.
  Nothing else moves: a page that is not a report may read what it has just written,
  and a replica is always a little behind.
- Writes always go to the primary, inside the context too (a report that records
  its export, an audit row).
- Inside a transaction on the primary (``transaction.atomic``) reads stay there, so
  that they see the transaction's own writes. The tests' transactions keep every
  ordinary test on the primary for the same reason.
- The replica serves only while it answers and its replay lag is at most
  DATABASE_REPLICA_MAX_LAG seconds: a report may be that old, never older. Otherwise
  the reads go to the primary: a slower page rather than a wrong or failed one.

The lag is asked of the replica itself, cached per process for
DATABASE_REPLICA_CHECK_SECONDS, and one reporting context decides once: a page pays
at most one check, usually none, and all its reads come from the same server. A
replica that does not answer costs one short connect timeout per process per interval
(DATABASE_REPLICA_CONNECT_TIMEOUT) and is logged once, when it stops serving, not on
every page; its return is logged too.
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, connections

logger = logging.getLogger(__name__)

PRIMARY = "default"
REPLICA = "replica"

# On the replica: 0 when it has replayed everything it received (an idle primary
# writes nothing, and the age of the last replayed commit would then grow forever);
# otherwise the age of the last transaction it replayed. NULL when that is unknown
# (nothing replayed yet) or the server is not in recovery (not a replica at all: a
# promoted one no longer follows the primary).
LAG_SQL = """
SELECT pg_is_in_recovery(),
       CASE
           WHEN NOT pg_is_in_recovery() THEN NULL
           WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
           ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())
       END
"""


class _Reads:
    """One reporting context; ``alias`` is decided by its first read."""

    __slots__ = ("alias",)

    def __init__(self) -> None:
        self.alias: str | None = None


_reporting: ContextVar[_Reads | None] = ContextVar("replica_reads", default=None)


@contextmanager
def replica_reads() -> Iterator[None]:
    """Reads inside may come from the replica (tasks, exports, commands)."""
    if _reporting.get() is not None:  # nested: the outer context's decision holds
        yield
        return
    token = _reporting.set(_Reads())
    try:
        yield
    finally:
        _reporting.reset(token)


def reads_from_replica(view: Callable) -> Callable:
    """Decorate a reporting view: its reads may come from the replica.

    Only what runs inside the view: a streaming response's generator runs after it
    returns, so it must open ``replica_reads()`` itself.
    """
    if inspect.iscoroutinefunction(view):

        @functools.wraps(view)
        async def async_wrapper(*args, **kwargs):
            with replica_reads():
                return await view(*args, **kwargs)

        return async_wrapper

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        with replica_reads():
            return view(*args, **kwargs)

    return wrapper


def in_reporting_context() -> bool:
    return _reporting.get() is not None


# --- The replica's health, per process ------------------------------------------------


@dataclass(frozen=True)
class Health:
    checked_at: float  # time.monotonic()
    lag: float | None  # seconds; None: it could not be asked or is not a replica
    problem: str = ""


_lock = threading.Lock()
_health: Health | None = None
_checking = False
_serving: bool | None = None  # what was last logged: None before the first check


def forget() -> None:
    """Drop what this process knows of the replica (tests; after a failover)."""
    global _health, _checking, _serving
    with _lock:
        _health, _checking, _serving = None, False, None


def _configured() -> bool:
    return REPLICA in settings.DATABASES and bool(settings.DATABASE_REPLICA_READS)


def _measure() -> Health:
    try:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute(LAG_SQL)
            in_recovery, lag = cursor.fetchone()
    except DatabaseError as exc:
        # Unreachable, refused, restarting: drop the connection so that the next
        # check connects afresh instead of reusing a broken one.
        with suppress(DatabaseError):
            connections[REPLICA].close()
        problem = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        return Health(time.monotonic(), None, f"unreachable ({problem})")
    if not in_recovery:
        return Health(time.monotonic(), None, "not in recovery (not a replica)")
    if lag is None:
        return Health(time.monotonic(), None, "replay lag unknown")
    return Health(time.monotonic(), max(float(lag), 0.0))


def health() -> Health | None:
    """The replica's health as this process last saw it, checked again when older
    than DATABASE_REPLICA_CHECK_SECONDS. While one thread checks, the others use the
    previous answer (None before the first: the primary)."""
    global _health, _checking
    now = time.monotonic()
    with _lock:
        fresh = (
            _health is not None
            and now - _health.checked_at < settings.DATABASE_REPLICA_CHECK_SECONDS
        )
        if fresh or _checking:
            return _health
        _checking = True
    try:
        result = _measure()
    finally:
        with _lock:
            _checking = False
    with _lock:
        _health = result
    return result


def replica_serves() -> bool:
    """True when reporting reads may go to the replica now."""
    global _serving
    if not _configured():
        return False
    current = health()
    if current is None:
        return False
    max_lag = settings.DATABASE_REPLICA_MAX_LAG
    serving = current.lag is not None and current.lag <= max_lag
    if serving != _serving:
        _serving = serving
        if serving:
            logger.info(
                "replica: serving reporting reads (lag %.1f s, max %s s)",
                current.lag,
                max_lag,
            )
        elif current.lag is not None:
            logger.warning(
                "replica: %.1f s behind (max %s s); reporting reads go to the primary",
                current.lag,
                max_lag,
            )
        else:
            logger.warning(
                "replica: %s; reporting reads go to the primary", current.problem
            )
    return serving


class ReplicaRouter:
    """DATABASE_ROUTERS entry when DATABASE_REPLICA_URL is set (crm_site/settings.py)."""

    def db_for_read(self, model, **hints) -> str:
        reads = _reporting.get()
        if reads is None or connections[PRIMARY].in_atomic_block:
            return PRIMARY
        if reads.alias is None:
            reads.alias = REPLICA if replica_serves() else PRIMARY
        return reads.alias

    def db_for_write(self, model, **hints) -> str:
        return PRIMARY

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        # The same rows on both servers: an object read from the replica may be
        # related to (and saved with) one from the primary.
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints) -> bool:
        # A replica is read-only and receives the schema by replication.
        return db == PRIMARY
