"""Faults cost nothing: Redis down or hanging, the broker hanging, PostgreSQL down.

"Down" is a port nothing listens on (connection refused at once). "Hanging" is a
socket that accepts connections and never answers, as a SIGSTOPped Redis or a dead
network path does: only timeouts end the wait.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.cache import caches
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from crm_site import cache as cache_module
from crm_site.cache import CacheUnavailable
from crm_site.celery import app as celery_app
from crm_site.celery import publish_breaker
from crm_site.models import AuditEntry
from customers.views.customers import REVEALS_PER_HOUR

PAGE_BUDGET = 1.0  # seconds a page may take while Redis is down or hangs


@pytest.fixture
def hanging_port():
    """A port that accepts TCP connections and never sends a byte back."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(128)
    server.settimeout(0.05)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    server.close()


@pytest.fixture
def closed_port():
    """A port nothing listens on (bound, then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(params=["down", "hanging"])
def broken_redis(request):
    """A Redis URL that is down, then one that hangs; the breakers start closed."""
    port = request.getfixturevalue(
        "closed_port" if request.param == "down" else "hanging_port"
    )
    cache_module.breaker._until.clear()
    publish_breaker.reset()
    yield f"redis://127.0.0.1:{port}/0"
    cache_module.breaker._until.clear()
    publish_breaker.reset()


def _caches_at(url: str) -> dict:
    return {
        "default": {
            **django_settings.CACHES["default"],
            "LOCATION": url,
        }
    }


@contextmanager
def _broker_at(url: str):
    # The producer pool too: once a task was sent in this process (a page of an
    # earlier test, on the live server), it holds the working broker's connections.
    amqp = celery_app.amqp
    old_url, old_pool = celery_app.conf.broker_url, celery_app._pool
    old_producers = amqp._producer_pool
    celery_app.conf.broker_url = url
    celery_app._pool = amqp._producer_pool = None
    try:
        yield
    finally:
        if celery_app._pool is not None:
            celery_app._pool.force_close_all()
        celery_app.conf.broker_url, celery_app._pool = old_url, old_pool
        amqp._producer_pool = old_producers


@contextmanager
def _within(seconds: float, what: str):
    started = time.monotonic()
    yield
    took = time.monotonic() - started
    assert took < seconds, f"{what} took {took:.2f} s"


# --- The cache ---------------------------------------------------------------------


def test_every_cache_method_misses_or_skips_quickly_while_redis_is_broken(
    broken_redis,
):
    with override_settings(CACHES=_caches_at(broken_redis)):
        cache = caches["default"]
        with _within(PAGE_BUDGET, "a dozen cache calls"):
            cache.set("k", 1)
            assert cache.get("k", "missing") == "missing"
            assert cache.get_many(["k", "j"]) == {}
            assert cache.set_many({"k": 1, "j": 2}) == ["k", "j"]
            assert cache.add("k", 1) is False
            assert cache.has_key("k") is False
            assert cache.touch("k") is False
            assert cache.get_or_set("k", 5) == 5
            cache.delete("k")
            cache.delete_many(["k", "j"])
            with pytest.raises(CacheUnavailable):
                cache.incr("k")
            with pytest.raises(ValueError):  # the contract for a missing key
                cache.decr("k")
        assert not cache.available()


def test_the_cache_is_tried_again_after_the_pause(broken_redis):
    with override_settings(CACHES=_caches_at(broken_redis)):
        cache = caches["default"]
        assert cache.get("k") is None
        assert not cache.available()
        # Once the pause is over the next call goes to Redis again.
        for location in list(cache_module.breaker._until):
            cache_module.breaker._until[location] = time.monotonic() - 1
        assert cache.available()
    # The real Redis answers and closes the breaker of its own location.
    cache = caches["default"]
    cache.set("fault-test", 1, 5)
    assert cache.get("fault-test") == 1 and cache.available()


@pytest.mark.django_db
def test_pages_answer_within_a_second_while_redis_is_broken(
    broken_redis, client, consultant, own_customer, settings
):
    settings.REDIS_URL = broken_redis
    with override_settings(CACHES=_caches_at(broken_redis)):
        client.force_login(consultant)
        for url in (
            "/sales/today/",
            reverse("customers:customer-list"),
            own_customer.get_absolute_url(),
            reverse("notifications"),
            reverse("customers:customer-list"),  # the session came from the database
        ):
            with _within(PAGE_BUDGET, url):
                assert client.get(url).status_code == 200, url
        with _within(PAGE_BUDGET, "/health/"):
            response = client.get(reverse("health"), HTTP_ACCEPT="application/json")
        assert response.json()["components"]["redis"]["status"] == "fail"


# --- Publishing a task ----------------------------------------------------------


@pytest.mark.django_db
def test_queueing_a_task_while_the_broker_is_broken_neither_blocks_nor_fails(
    broken_redis, django_capture_on_commit_callbacks, caplog
):
    from crm_site.tasks import overview_warm

    caplog.set_level(logging.WARNING, logger="crm_site.celery")
    with _broker_at(broken_redis):
        with (
            _within(PAGE_BUDGET, "the first publish"),
            django_capture_on_commit_callbacks(execute=True),
        ):
            overview_warm.delay_on_commit()
        assert "overview_warm not queued" in caplog.text
        # Later publishes in the same pause do not even try.
        with _within(0.1, "a publish during the pause"):
            assert overview_warm.delay() is None


# --- The reveal limit -------------------------------------------------------------


def _reveal(client, customer):
    return client.post(
        reverse("customers:contact-reveal", args=[customer.pk]),
        HTTP_HX_REQUEST="true",
    )


def _past_reveals(actor, customer, *, at) -> None:
    from customers import services

    for _ in range(REVEALS_PER_HOUR):
        services.contact_reveal(actor=actor, customer=customer)
    AuditEntry.objects.filter(actor=actor, action="reveal").update(created_at=at)


@pytest.mark.django_db
def test_the_reveal_limit_holds_from_the_audit_trail_while_redis_is_broken(
    broken_redis, client, consultant, pool_customer
):
    with override_settings(CACHES=_caches_at(broken_redis)):
        client.force_login(consultant)
        for _ in range(REVEALS_PER_HOUR):
            with _within(PAGE_BUDGET, "a reveal"):
                assert _reveal(client, pool_customer).status_code == 200
        refused = _reveal(client, pool_customer)
    assert refused.status_code == 429
    assert (
        AuditEntry.objects.filter(action="reveal", actor=consultant).count()
        == REVEALS_PER_HOUR
    )


@pytest.mark.django_db
def test_reveals_made_while_redis_was_down_still_count_when_it_is_back(
    client, consultant, pool_customer
):
    caches["default"].clear()
    # Shown during the outage, in this clock hour: written to the audit trail only.
    _past_reveals(
        consultant,
        pool_customer,
        at=timezone.now().replace(minute=0, second=0, microsecond=0),
    )
    client.force_login(consultant)
    assert _reveal(client, pool_customer).status_code == 429


@pytest.mark.django_db
def test_reveals_older_than_an_hour_do_not_count_during_an_outage(
    client, consultant, pool_customer, closed_port
):
    cache_module.breaker._until.clear()
    _past_reveals(consultant, pool_customer, at=timezone.now() - timedelta(minutes=61))
    with override_settings(CACHES=_caches_at(f"redis://127.0.0.1:{closed_port}/0")):
        client.force_login(consultant)
        assert _reveal(client, pool_customer).status_code == 200
    cache_module.breaker._until.clear()


# --- PostgreSQL down ---------------------------------------------------------------


@contextmanager
def _database_at(port: int, django_db_blocker):
    with django_db_blocker.unblock():
        connection.close()
        old = connection.settings_dict["PORT"], connection.settings_dict["HOST"]
        connection.settings_dict["HOST"], connection.settings_dict["PORT"] = (
            "127.0.0.1",
            port,
        )
        try:
            yield
        finally:
            connection.close()
            connection.settings_dict["PORT"], connection.settings_dict["HOST"] = old


def _assert_friendly_503(response, language: str) -> str:
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response["Content-Language"] == language
    body = response.content.decode()
    assert 'data-testid="unavailable"' in body
    assert f'<html lang="{language}">' in body
    assert "Traceback" not in body and "OperationalError" not in body
    return body


def test_a_page_while_postgresql_is_down_is_a_friendly_503_in_chinese_by_default(
    closed_port, django_db_blocker
):
    client = Client(raise_request_exception=False)
    client.cookies["sessionid"] = "some-session-in-the-database"
    with _database_at(closed_port, django_db_blocker):
        # The session is loaded in a middleware: handler500 turns it into the 503.
        _assert_friendly_503(client.get("/customers/"), "zh-hans")


def test_the_503_page_follows_the_language_cookie_and_accept_language(
    closed_port, django_db_blocker
):
    client = Client(raise_request_exception=False)
    client.cookies["sessionid"] = "a-session-key-kept-in-the-database"
    with _database_at(closed_port, django_db_blocker):
        body = _assert_friendly_503(
            client.get("/customers/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9"), "en"
        )
        assert "temporarily unavailable" in body
        client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "en"
        _assert_friendly_503(client.get("/sales/"), "en")


def test_a_view_that_reaches_for_the_database_while_it_is_down_answers_503(
    closed_port, django_db_blocker
):
    client = Client(raise_request_exception=False)
    with _database_at(closed_port, django_db_blocker):
        # No session: the login view itself queries the database (the middleware path).
        response = client.post(
            reverse("login"), {"username": "someone", "password": "secret"}
        )
    _assert_friendly_503(response, "zh-hans")


@pytest.mark.django_db(transaction=True)
def test_the_site_recovers_by_itself_when_postgresql_is_back(
    closed_port, django_db_blocker, client, consultant
):
    client.force_login(consultant)
    client.raise_request_exception = False
    with _database_at(closed_port, django_db_blocker):
        assert client.get("/customers/").status_code == 503
    assert client.get("/customers/").status_code == 200


def test_other_server_errors_keep_the_plain_500_page(rf):
    from crm_site.outage import server_error

    try:
        raise RuntimeError("boom")
    except RuntimeError:
        response = server_error(rf.get("/"))
    assert response.status_code == 500


# --- /health/ and the worker's heartbeat --------------------------------------------


def test_a_dead_worker_shows_on_health_within_30_seconds():
    # A worker that dies just after beating is reported once its age passes the max;
    # a live one beats at least twice within it, so one late beat raises no alarm.
    interval = django_settings.HEALTH_HEARTBEAT_INTERVAL
    assert django_settings.HEALTH_HEARTBEAT_MAX_AGE <= 30
    assert 2 * interval <= django_settings.HEALTH_HEARTBEAT_MAX_AGE
    entry = django_settings.CELERY_BEAT_SCHEDULE["heartbeat"]
    assert entry["schedule"] == interval


@pytest.mark.django_db
def test_health_is_red_when_the_worker_was_last_seen_31_seconds_ago(client):
    from crm_site.models import Heartbeat

    for component in Heartbeat.Component.values:
        Heartbeat.beat(component)
    Heartbeat.objects.filter(component="worker").update(
        last_seen=timezone.now() - timedelta(seconds=31)
    )
    data = client.get(reverse("health"), HTTP_ACCEPT="application/json").json()
    assert data["components"]["worker"]["status"] == "fail"
    assert data["components"]["beat"]["status"] == "ok"


class _Consumer:
    class connection:  # stands in for a kombu connection
        connected = True


@pytest.mark.django_db(transaction=True)
def test_the_worker_beats_from_its_main_process_while_connected(settings):
    from crm_site.celery import WorkerHeartbeat
    from crm_site.models import Heartbeat

    settings.HEALTH_HEARTBEAT_INTERVAL = 0.05
    consumer = _Consumer()
    step = WorkerHeartbeat.__new__(WorkerHeartbeat)
    WorkerHeartbeat.__init__(step, consumer)
    step.start(consumer)
    try:
        deadline = time.monotonic() + 5
        while not Heartbeat.objects.filter(component="worker").exists():
            assert time.monotonic() < deadline, "no heartbeat within 5 s"
            time.sleep(0.05)
        # Disconnected from the broker: no more beats.
        _Consumer.connection.connected = False
        time.sleep(0.2)
        Heartbeat.objects.all().delete()
        time.sleep(0.3)
        assert not Heartbeat.objects.exists()
    finally:
        _Consumer.connection.connected = True
        step.stop(consumer)
