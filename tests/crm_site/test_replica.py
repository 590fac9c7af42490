"""Reads off the primary (crm_site/replica.py) against a real streaming replica.

scripts/test.sh starts one next to the primary (scripts/lib.sh) and exports
DATABASE_REPLICA_URL; without it the tests that need one skip. The test database is
created on the primary only; the replica receives it by physical replication, and the
"replica" alias, a TEST MIRROR of "default", keeps the replica's server and takes the
test database's name. A test's own transaction never reaches the replica, so the tests
that read there commit (transaction=True) and wait for the replay. They share one
process (xdist_group): pausing the replay pauses it for every reader.
"""

from __future__ import annotations

import logging
import socket
import time

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import connections, router
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm_site import replica
from crm_site.models import Team
from crm_site.replica import (
    PRIMARY,
    REPLICA,
    ReplicaRouter,
    reads_from_replica,
    replica_reads,
)

HAS_REPLICA = REPLICA in django_settings.DATABASES
needs_replica = pytest.mark.skipif(
    not HAS_REPLICA,
    reason="DATABASE_REPLICA_URL is unset: no streaming replica to read from "
    "(scripts/test.sh starts one, or says why it could not)",
)
BOTH = [PRIMARY, REPLICA] if HAS_REPLICA else [PRIMARY]
on_replica = pytest.mark.django_db(transaction=True, databases=BOTH)

pytestmark = pytest.mark.xdist_group("replica")


def _one(alias: str, sql: str, params=()):
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def _wait(condition, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"the replica did not {what} within {timeout} s")
        time.sleep(0.02)


def _primary_lsn() -> str:
    # Where the next record goes: with synchronous_commit=off (scripts/lib.sh's test
    # server) a commit may still wait in the WAL buffers, past pg_current_wal_lsn().
    return _one(PRIMARY, "SELECT pg_current_wal_insert_lsn()::text")


def _replayed(lsn: str) -> bool:
    return _one(REPLICA, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn])


def _received(lsn: str) -> bool:
    return _one(REPLICA, "SELECT pg_last_wal_receive_lsn() >= %s::pg_lsn", [lsn])


def _wait_replayed() -> None:
    lsn = _primary_lsn()
    _wait(lambda: _replayed(lsn), f"replay the primary's WAL up to {lsn}")


def _replay_paused() -> bool:
    return _one(REPLICA, "SELECT pg_get_wal_replay_pause_state()") == "paused"


@pytest.fixture
def live_replica(settings):
    """Reporting reads on, the lag checked on every context, the replica caught up."""
    settings.DATABASE_REPLICA_READS = True
    settings.DATABASE_REPLICA_MAX_LAG = 30
    settings.DATABASE_REPLICA_CHECK_SECONDS = 0
    replica.forget()
    assert _one(REPLICA, "SELECT pg_is_in_recovery()") is True
    _wait_replayed()
    yield
    if _one(REPLICA, "SELECT pg_is_wal_replay_paused()"):
        _one(REPLICA, "SELECT pg_wal_replay_resume()")
    replica.forget()


# --- The router's rules (no replica needed) -------------------------------------------


def test_outside_a_reporting_context_everything_is_the_primary():
    routes = ReplicaRouter()
    assert not replica.in_reporting_context()
    assert routes.db_for_read(Team) == PRIMARY
    assert routes.db_for_write(Team) == PRIMARY


def test_writes_migrations_and_relations():
    routes = ReplicaRouter()
    with replica_reads():
        assert routes.db_for_write(Team) == PRIMARY
    assert routes.allow_migrate(PRIMARY, "crm_site")
    assert not routes.allow_migrate(REPLICA, "crm_site")
    assert routes.allow_relation(Team(), Team())


def test_the_decorator_and_the_context_nest():
    @reads_from_replica
    def view(request):
        with replica_reads():
            inner = replica._reporting.get()
        return replica.in_reporting_context(), inner

    inside, inner = view(None)
    assert inside
    assert inner is not None
    assert not replica.in_reporting_context()
    assert view.__name__ == "view"


def test_the_overview_view_is_a_reporting_view():
    from crm_site.views_overview import overview_page

    assert overview_page.__wrapped__.__name__ == "overview_page"


# Every page and export that README and docs/replica.md say read from the replica:
# (URL name, query string).
REPORTING_PAGES = [
    ("home", {}),  # the managers' overview, for the roles that land on it
    ("explorer", {"source": "sales.deals", "measure": "deals", "dim": "stage"}),
    ("explorer-export", {"source": "sales.deals", "measure": "deals"}),
    ("sales:dashboard", {}),
    ("service:dashboard", {}),
    ("marketing:dashboard", {}),
    ("sales:insight-win-loss", {}),
    ("sales:insight-velocity", {}),
    ("sales:insight-cohorts", {}),
    ("service:insight", {}),
    ("service:insight-units", {}),
    ("customers:customer-export", {"format": "csv"}),
]
# Who opens them: the executive sees every report; the customer export is a sales
# manager's (the executive does not hold the export permission).
EXPORTER = {"customers:customer-export": "sales_manager"}


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "params"), REPORTING_PAGES)
def test_each_reporting_page_reads_inside_a_replica_context(
    request, client, name, params
):
    """The view's own reads run in a reporting context (@reads_from_replica): the
    router would send them to a replica that serves. Without the decorator every
    read of the page is outside one. (The test's transaction keeps them on the
    primary all the same: the real replica's test is below.)"""
    cache.clear()
    client.force_login(request.getfixturevalue(EXPORTER.get(name, "executive")))
    reads: list[bool] = []

    def note(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith("SELECT"):
            reads.append(replica.in_reporting_context())
        return execute(sql, params, many, context)

    with connections[PRIMARY].execute_wrapper(note):
        response = client.get(reverse(name), params)
    assert response.status_code == 200, name
    assert any(reads), f"{name}: no read in a reporting context"
    cache.clear()


@pytest.mark.django_db
def test_inside_a_transaction_reads_stay_on_the_primary(settings):
    """An ordinary test runs in a transaction: it never reaches the replica."""
    settings.DATABASE_REPLICA_READS = True
    replica.forget()
    with replica_reads():
        assert ReplicaRouter().db_for_read(Team) == PRIMARY
    assert replica._health is None  # not even asked


def test_without_a_replica_reporting_reads_stay_on_the_primary(settings, monkeypatch):
    settings.DATABASE_REPLICA_READS = True
    monkeypatch.setattr(replica, "REPLICA", "no-such-alias")
    replica.forget()
    with replica_reads():
        assert ReplicaRouter().db_for_read(Team) == PRIMARY


# --- Against the real replica --------------------------------------------------------


@needs_replica
@on_replica
def test_reporting_reads_go_to_the_replica(live_replica):
    team = Team.objects.create(name="报表组")
    _wait_replayed()
    with replica_reads():
        alias = router.db_for_read(Team)
        assert alias == REPLICA
        assert _one(alias, "SELECT pg_is_in_recovery()") is True
        with CaptureQueriesContext(connections[REPLICA]) as on_standby:
            assert Team.objects.get(pk=team.pk).name == "报表组"
    assert any('"crm_site_team"' in q["sql"] for q in on_standby.captured_queries)
    # Outside the context, the same read is the primary's.
    alias = router.db_for_read(Team)
    assert alias == PRIMARY
    assert _one(alias, "SELECT pg_is_in_recovery()") is False


@needs_replica
@on_replica
def test_writes_never_go_to_the_replica(live_replica):
    with replica_reads():
        assert router.db_for_read(Team) == REPLICA
        with CaptureQueriesContext(connections[REPLICA]) as on_standby:
            team = Team.objects.create(name="写入组")
            team.name = "写入二组"
            team.save()
            Team.objects.filter(pk=team.pk).update(name="写入三组")
    assert not on_standby.captured_queries
    assert Team.objects.using(PRIMARY).get(pk=team.pk).name == "写入三组"


@needs_replica
@on_replica
def test_a_replica_behind_the_limit_sends_reads_to_the_primary(
    live_replica, settings, caplog
):
    # A recent commit replayed: the lag below is counted from it.
    Team.objects.create(name="先行组")
    _wait_replayed()
    _one(REPLICA, "SELECT pg_wal_replay_pause()")
    _wait(_replay_paused, "pause its replay")
    team = Team.objects.create(name="延迟组")
    lsn = _primary_lsn()
    _wait(lambda: _received(lsn), f"receive the WAL up to {lsn}")
    time.sleep(0.05)  # the last replayed commit is older than the limit below

    # Behind, but within a generous limit: the replica serves, without the new row.
    with replica_reads():
        assert router.db_for_read(Team) == REPLICA
        assert not Team.objects.filter(pk=team.pk).exists()

    # Behind more than the limit: the primary serves, with it; logged once.
    caplog.set_level(logging.INFO, logger="crm_site.replica")
    settings.DATABASE_REPLICA_MAX_LAG = 0.01
    for _ in range(2):
        with replica_reads():
            assert router.db_for_read(Team) == PRIMARY
            assert Team.objects.filter(pk=team.pk).exists()
    warnings = [
        r
        for r in caplog.records
        if r.name == "crm_site.replica" and r.levelno == logging.WARNING
    ]
    assert len(warnings) == 1
    assert "behind" in warnings[0].getMessage()

    # Caught up again: back to the replica, which now has the row.
    _one(REPLICA, "SELECT pg_wal_replay_resume()")
    _wait(lambda: _replayed(lsn), f"replay the WAL up to {lsn}")
    settings.DATABASE_REPLICA_MAX_LAG = 30
    with replica_reads():
        assert router.db_for_read(Team) == REPLICA
        assert Team.objects.filter(pk=team.pk).exists()
    assert "serving reporting reads" in caplog.records[-1].getMessage()


@needs_replica
@on_replica
def test_an_unreachable_replica_sends_reads_to_the_primary(live_replica, caplog):
    Team.objects.create(name="主库组")
    caplog.set_level(logging.WARNING, logger="crm_site.replica")
    # A port that is bound but does not listen: connections are refused at once.
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    where = connections[REPLICA].settings_dict
    saved = where["HOST"], where["PORT"]
    connections[REPLICA].close()
    where["HOST"], where["PORT"] = "127.0.0.1", str(closed.getsockname()[1])
    try:
        started = time.monotonic()
        for _ in range(3):
            with replica_reads():
                assert router.db_for_read(Team) == PRIMARY
                assert Team.objects.filter(name="主库组").exists()
        assert time.monotonic() - started < 5
    finally:
        closed.close()
        connections[REPLICA].close()
        where["HOST"], where["PORT"] = saved
    logged = [r.getMessage() for r in caplog.records if r.name == "crm_site.replica"]
    assert len(logged) == 1
    assert "unreachable" in logged[0]


@needs_replica
@on_replica
def test_the_lag_is_checked_once_per_interval(live_replica, settings):
    settings.DATABASE_REPLICA_CHECK_SECONDS = 60
    replica.forget()
    with CaptureQueriesContext(connections[REPLICA]) as on_standby:
        for _ in range(3):  # three pages, each with two reads
            with replica_reads():
                assert router.db_for_read(Team) == REPLICA
                assert router.db_for_read(Team) == REPLICA
    checks = [q for q in on_standby.captured_queries if "pg_is_in_recovery" in q["sql"]]
    assert len(checks) == 1


@needs_replica
@on_replica
def test_the_overview_reads_from_the_replica(live_replica, client, sales_manager):
    cache.clear()
    _wait_replayed()
    client.force_login(sales_manager)
    with CaptureQueriesContext(connections[REPLICA]) as on_standby:
        response = client.get(reverse("home"))
    assert response.status_code == 200
    assert len(on_standby.captured_queries) > 1  # the check, then the figures
    cache.clear()


@needs_replica
@on_replica
def test_the_explorer_reads_its_pivot_from_the_replica(
    live_replica, client, sales_manager
):
    from sales.models import DealFact

    _wait_replayed()
    client.force_login(sales_manager)
    params = {"source": "sales.deals", "measure": "deals", "dim": "stage"}
    with (
        CaptureQueriesContext(connections[REPLICA]) as on_standby,
        CaptureQueriesContext(connections[PRIMARY]) as on_primary,
    ):
        response = client.get(reverse("explorer"), params)
    assert response.status_code == 200
    assert response.context["result"] is not None
    fact = DealFact._meta.db_table
    assert any(fact in q["sql"] for q in on_standby.captured_queries)
    assert not any(fact in q["sql"] for q in on_primary.captured_queries)


@needs_replica
@on_replica
def test_the_customer_export_reads_the_replica_and_records_itself_on_the_primary(
    live_replica, client, sales_manager, own_customer
):
    from customers.models import ExportRecord

    _wait_replayed()
    client.force_login(sales_manager)
    with CaptureQueriesContext(connections[REPLICA]) as on_standby:
        response = client.get(reverse("customers:customer-export"), {"format": "csv"})
    assert response.status_code == 200
    assert own_customer.name in response.content.decode("utf-8-sig")
    standby = [q["sql"].lstrip().upper() for q in on_standby.captured_queries]
    assert any('"CUSTOMERS_CUSTOMER"' in sql for sql in standby)
    assert not any(sql.startswith(("INSERT", "UPDATE", "DELETE")) for sql in standby)
    # The export's record is a write: on the primary, at once.
    assert ExportRecord.objects.using(PRIMARY).filter(user=sales_manager).count() == 1
