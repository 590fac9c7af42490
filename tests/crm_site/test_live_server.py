"""The event-stream server (crm_site.live_server) and the streams it serves on an
event loop (crm_site.live.astream): one pub/sub subscription per process, the pages'
origins allowed with their cookies, nothing but marked event-stream views."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json

import pytest
from django.urls import reverse

from crm_site import live, live_server, portal
from sales.models import SelectionSession
from tests.factories import CustomerFactory
from tests.opening_fixtures import enter, make_deposit, make_session, opening_project

PAGE_ORIGIN = "http://127.0.0.1:8000"


def _run(coroutine):
    """asyncio.run, on a thread of its own when this one already runs a loop (a
    browser test's Playwright may have left one)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _scope(path: str, *, method: str = "GET", headers=()) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",  # as behind the TLS proxy (SECURE_SSL_REDIRECT)
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8001"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8001),
    }


async def _call(scope: dict, *, until: bytes = b"", publish=None, wait: float = 10):
    """Run the server on one request; collect what it sends until ``until`` appears
    in the body (then the client goes away), calling ``publish`` once the stream
    is open."""
    sent: list[dict] = []
    body = bytearray()
    gone = asyncio.Event()
    opened = asyncio.Event()

    asked = []

    async def receive():
        if not asked:
            asked.append(True)
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)
        if message["type"] == "http.response.body":
            body.extend(message.get("body", b""))
            if b"connected" in body:
                opened.set()
            if until and until in body:
                gone.set()

    task = asyncio.ensure_future(live_server.application(scope, receive, send))
    if publish is not None:
        await asyncio.wait_for(opened.wait(), wait)
        await asyncio.to_thread(publish)
    await asyncio.wait_for(gone.wait() if until else task, wait)
    if not task.done():
        task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    start = next(m for m in sent if m["type"] == "http.response.start")
    headers = {name.lower(): value for name, value in start["headers"]}
    return start["status"], headers, bytes(body)


def test_a_page_is_not_served_by_the_event_stream_server():
    status, _headers, _body = _run(_call(_scope("/portal/")))
    assert status == 404


@pytest.mark.django_db
def test_a_preflight_of_a_page_origin_is_allowed_with_credentials(settings):
    settings.LIVE_PAGE_ORIGINS = [PAGE_ORIGIN]
    path = reverse("sales_portal:opening-live", args=[1])
    status, headers, _body = _run(
        _call(
            _scope(path, method="OPTIONS", headers=[(b"origin", PAGE_ORIGIN.encode())])
        )
    )
    assert status == 204
    assert headers[b"access-control-allow-origin"] == PAGE_ORIGIN.encode()
    assert headers[b"access-control-allow-credentials"] == b"true"
    assert b"Last-Event-ID" in headers[b"access-control-allow-headers"]


@pytest.mark.django_db
def test_another_origin_gets_no_cors_headers(settings):
    settings.LIVE_PAGE_ORIGINS = [PAGE_ORIGIN]
    path = reverse("sales_portal:opening-live", args=[1])
    _status, headers, _body = _run(
        _call(
            _scope(
                path, method="OPTIONS", headers=[(b"origin", b"http://evil.example")]
            )
        )
    )
    assert b"access-control-allow-origin" not in headers


@pytest.fixture
def buyer_entry(consultant, sales_manager):
    project, _units = opening_project(floors=2, per_floor=2)
    session = make_session(
        project=project,
        created_by=sales_manager,
        mode=SelectionSession.Mode.ONLINE,
        order=SelectionSession.Order.FIRST_COME,
    )
    buyer = CustomerFactory(assigned_consultant=consultant)
    entry = enter(
        session, make_deposit(project=project, consultant=consultant, customer=buyer)
    )
    cookie = portal.session_for(buyer).session_key
    return session, entry, cookie


@pytest.mark.django_db(transaction=True)
def test_the_buyers_stream_is_served_with_its_cookie_and_pushes_a_sale(
    buyer_entry, settings
):
    settings.LIVE_PAGE_ORIGINS = [PAGE_ORIGIN]
    session, entry, cookie = buyer_entry
    path = reverse("sales_portal:opening-live", args=[entry.pk])
    headers = [
        (b"origin", PAGE_ORIGIN.encode()),
        (b"cookie", f"{settings.PORTAL_SESSION_COOKIE}={cookie}".encode()),
    ]
    status, sent_headers, body = _run(
        _call(
            _scope(path, headers=headers),
            until=b"event: sold",
            publish=lambda: live.publish(session.topic, {"unit": 7}, name="sold"),
        )
    )
    assert status == 200
    assert sent_headers[b"content-type"].startswith(b"text/event-stream")
    assert sent_headers[b"access-control-allow-origin"] == PAGE_ORIGIN.encode()
    assert b'event: sold\ndata: {"unit": 7}' in body


@pytest.mark.django_db(transaction=True)
def test_a_stranger_is_not_served_the_buyers_stream(buyer_entry):
    _session, entry, _cookie = buyer_entry
    path = reverse("sales_portal:opening-live", args=[entry.pk])
    status, _headers, _body = _run(_call(_scope(path)))
    assert status in (302, 404)


@pytest.mark.django_db
def test_a_stream_on_the_event_loop_replays_what_came_after_the_last_id():
    topic = "replay-test:1"  # a kind without replay slack
    first = live.publish(topic, {"n": 1}, name="sold")
    live.publish(topic, {"n": 2}, name="sold")

    async def read() -> str:
        text = ""
        async for part in live.astream(topic, last_id=first, seconds=0.5):
            text += part
        return text

    text = _run(read())
    assert '"n": 2' in text and '"n": 1' not in text


@pytest.mark.django_db
def test_open_streams_share_one_subscription_and_each_hears_every_event():
    topic = "opening:test-fanout"

    async def run() -> list[str]:
        async def one() -> str:
            text = ""
            async for part in live.astream(topic, seconds=1.5):
                text += part
            return text

        readers = [asyncio.ensure_future(one()) for _ in range(5)]
        await asyncio.sleep(0.3)
        hub = await live._hub()
        assert len(hub.listeners[live.channel_name(topic)]) == 5
        await asyncio.to_thread(live.publish, topic, {"unit": 3}, name="sold")
        texts = await asyncio.gather(*readers)
        assert live.channel_name(topic) not in hub.listeners  # all left
        return texts

    for text in _run(run()):
        assert text.count("event: sold") == 1


def test_pages_name_the_event_stream_server_when_there_is_one(settings):
    settings.LIVE_EVENTS_URL = "http://127.0.0.1:8001"
    assert live.events_url("/x/live/") == "http://127.0.0.1:8001/x/live/"
    settings.LIVE_EVENTS_URL = ""
    assert live.events_url("/x/live/") == "/x/live/"


def _raw_publish(topic: str, event_id: str, data: dict) -> None:
    """An event as live.publish sends it, with the id chosen by the test."""
    body = json.dumps({"name": "sold", "data": data})
    live.client().publish(
        live.channel_name(topic), json.dumps({"id": event_id, "b": body})
    )


@pytest.mark.django_db
def test_a_sale_published_out_of_order_still_reaches_the_stream_on_the_event_loop():
    """Two sales at nearly the same moment may reach the channel in the other order
    than their ids: both are sent (the old rule, "ids only grow", dropped one)."""
    topic = "opening:test-order"

    async def run() -> str:
        text = ""

        async def read() -> None:
            nonlocal text
            async for part in live.astream(topic, seconds=1.0):
                text += part

        reader = asyncio.ensure_future(read())
        await asyncio.sleep(0.3)
        await asyncio.to_thread(_raw_publish, topic, "2000-0", {"unit": 2})
        await asyncio.to_thread(_raw_publish, topic, "1000-0", {"unit": 1})
        await reader
        return text

    text = _run(run())
    assert "id: 2000-0" in text and "id: 1000-0" in text


@pytest.mark.django_db
def test_a_sale_published_out_of_order_still_reaches_the_threaded_stream():
    topic = "opening:test-order-sync"
    chunks = []
    events = live.stream(topic, seconds=1.0)
    chunks.append(next(events))  # subscribed
    _raw_publish(topic, "2000-0", {"unit": 2})
    _raw_publish(topic, "1000-0", {"unit": 1})
    chunks.extend(events)
    text = "".join(chunks)
    assert "id: 2000-0" in text and "id: 1000-0" in text


@pytest.mark.django_db
def test_an_opening_screen_reconnecting_replays_the_last_two_seconds_too():
    topic = "opening:test-slack"
    earlier = live.publish(topic, {"unit": 1}, name="sold")
    later = live.publish(topic, {"unit": 2}, name="sold")

    async def read() -> str:
        text = ""
        async for part in live.astream(topic, last_id=later, seconds=0.3):
            text += part
        return text

    text = _run(read())
    # The page skips the ids it has handled; an earlier sale still on its way when
    # the screen reconnected is not lost.
    assert f"id: {earlier}" in text


def test_an_opening_topic_keeps_its_events_as_its_kind_says():
    """Opening day keeps 5,000 events for 15 minutes (sales.apps): a screen that
    reconnects in the rush replays every sale, not the default's last 50."""
    opening, other = "opening:test-keep", "screen-pop:test-keep"
    client = live.client()
    try:
        for n in range(120):
            live.publish(opening, {"unit": n}, name="sold")
            live.publish(other, {"n": n})
        assert client.xlen(live.recent_key(opening)) == 120
        assert client.ttl(live.recent_key(opening)) > 600
        assert client.ttl(live.recent_key(other)) <= live.RECENT_SECONDS
        kept = live._replay_from(opening, "0-0")
        assert len(client.xrange(live.recent_key(opening), min=kept)) == 120
    finally:
        client.delete(live.recent_key(opening), live.recent_key(other))


@pytest.mark.django_db(transaction=True)
def test_the_agents_screen_pop_is_served_by_the_event_stream_server(
    service_agent, settings, client
):
    """An open screen pop costs the page server no thread: the agent's page opens it
    here, with its cookies, and a ringing call reaches it."""
    from customers import telephony
    from customers.models import AgentExtension

    settings.LIVE_PAGE_ORIGINS = [PAGE_ORIGIN]
    AgentExtension.objects.create(extension="8001", user=service_agent)
    client.force_login(service_agent)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    headers = [
        (b"origin", PAGE_ORIGIN.encode()),
        (b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()),
    ]
    status, sent_headers, body = _run(
        _call(
            _scope(reverse("customers:screen-pop-stream"), headers=headers),
            until=b"event: call",
            publish=lambda: telephony.publish(
                user_id=service_agent.pk, event="ringing", call_id=5, card_url="/c/5/"
            ),
        )
    )
    assert status == 200
    assert sent_headers[b"access-control-allow-origin"] == PAGE_ORIGIN.encode()
    assert b'"card": "/c/5/"' in body


def test_the_screen_pop_names_the_event_stream_server_when_there_is_one(settings):
    from customers.templatetags.screen_pop import screen_pop_stream_url

    settings.LIVE_EVENTS_URL = "http://127.0.0.1:8001"
    assert (
        screen_pop_stream_url() == "http://127.0.0.1:8001/customers/screen-pop/stream/"
    )
    settings.LIVE_EVENTS_URL = ""
    assert screen_pop_stream_url() == "/customers/screen-pop/stream/"


def test_the_event_stream_servers_access_log_has_no_query_referer_or_agent(capfd):
    """As the page server's: a stream's query (its last event id) and the page's
    address in the Referer (a search's text) stay out of the log."""
    import datetime
    import runpy
    from pathlib import Path

    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    conf = runpy.run_path(
        str(Path(__file__).resolve().parents[2] / "scripts" / "gunicorn_live.conf.py")
    )
    config = Config()
    for key in ("worker_class", "logconfig_dict", "access_log_format"):
        config.set(key, conf[key])
    logger = Logger(config)
    assert logger.access_log_enabled

    class Answer:
        status = "200"
        headers: list = []
        sent = 10

    logger.access(
        Answer(),
        {},
        {
            "REMOTE_ADDR": "10.0.0.5",
            "REQUEST_METHOD": "GET",
            "RAW_URI": "/portal/sales/opening/7/live/?last=1-0",
            "PATH_INFO": "/portal/sales/opening/7/live/",
            "QUERY_STRING": "last=1-0",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_REFERER": "https://crm.example/customers/?q=王小明",
            "HTTP_USER_AGENT": "Mozilla/5.0 (iPhone)",
        },
        datetime.timedelta(seconds=20),
    )
    captured = capfd.readouterr()
    line = [
        text for text in (captured.err + captured.out).splitlines() if "/live/" in text
    ]
    assert (
        line and '"GET /portal/sales/opening/7/live/ HTTP/1.1" 200 20000 ms' in line[0]
    )
    assert (
        "last=" not in line[0] and "王小明" not in line[0] and "iPhone" not in line[0]
    )


def test_threaded_streams_beyond_the_limit_are_told_to_come_back(settings):
    """The page server's threads stay with its pages: a process serves at most
    LIVE_THREADED_STREAMS streams on them at once."""
    settings.LIVE_THREADED_STREAMS = 1
    assert live._THREADED_STREAMS.used == 0

    first = live._without_database(iter(["retry: 200\n: connected\n\n", "id: 1\n"]))
    assert "connected" in next(first)
    assert live._THREADED_STREAMS.used == 1

    turned_away = list(live._without_database(iter(["never"])))
    assert turned_away == [f"retry: {live.BUSY_RETRY_MS}\n: busy\n\n"]

    first.close()  # the browser went away: its slot is free
    assert live._THREADED_STREAMS.used == 0
    assert list(live._without_database(iter(["ok"]))) == ["ok"]
    assert live._THREADED_STREAMS.used == 0
