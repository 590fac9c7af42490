"""Pushing events to open pages: Redis pub/sub plus a short replay stream per topic.

A topic is a name ("screen-pop:42", "opening:7"). ``publish`` keeps the event in a
short Redis stream under the topic (``RECENT_SECONDS``), whose entry id is the
server-sent event's id, and sends it on the topic's pub/sub channel, which reaches
whichever web worker holds a page's event stream. ``stream`` is the text of one
server-sent events response: it subscribes, replays what came after the browser's
``Last-Event-ID``, then forwards what arrives until it ends (``STREAM_SECONDS``); the
browser reconnects at once with the last id it saw, so nothing is lost between two
connections. ``sse_response`` wraps a stream for a view.

The screen pop (customers.telephony) and the opening-day screens (sales) use it. Put
only ids and public facts in an event: the page fetches anything personal as its user.

Two ways to serve a stream. Under WSGI (the page server's threads, the test server)
a stream holds a thread and a Redis pub/sub connection while it is open. Under ASGI
(``crm_site.live_server``, the event-stream server scripts/run.sh starts on a port of
its own) it holds neither: one pattern subscription per process (``_Hub``) hands each
event, framed once, to every open stream of the topic, so three hundred screens cost
one Redis connection and a screen's reconnect never waits behind the pages' requests.
A view marked ``@live_view`` may be served there; ``events_url`` is the address a
page gives its script (the stream server's when ``LIVE_EVENTS_URL`` is set).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import redis
import redis.asyncio
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, StreamingHttpResponse

logger = logging.getLogger(__name__)

# A stream answers this long (less a random part of up to a fifth, so that pages
# opened together do not all reconnect at the same moment), then ends; the browser
# reconnects at once (retry:) with the last event id it saw. Short enough that a
# worker thread is never held long by a tab that went away without closing.
STREAM_SECONDS = 25.0
# A comment line this often, so proxies keep the connection open and a closed tab is
# noticed (the write fails) within this time.
HEARTBEAT_SECONDS = 10.0
# How long events are kept for replay after a reconnect.
RECENT_SECONDS = 60
RECENT_MAX = 50
# Milliseconds the browser waits before it reconnects.
RETRY_MS = 200


@dataclass(frozen=True)
class TopicKind:
    """How the topics named "<prefix>:…" behave; None keeps the module's default.

    The screen pop keeps the defaults (an agent's card matters for a minute). Opening
    day registers its own: every sale must reach every screen, so its events are kept
    longer and more of them, its streams reconnect less often, and publishing waits
    longer for Redis on a busy machine rather than lose the event.
    """

    keep_events: int | None = None
    keep_seconds: int | None = None
    stream_seconds: float | None = None
    publish_timeout: float | None = None
    # How far before the browser's last event id a replay starts (_replay_from).
    replay_slack_ms: int = 0


_KINDS: dict[str, TopicKind] = {}


def register_kind(prefix: str, **options) -> TopicKind:
    """Called from an app's ready(); registering a prefix again replaces it."""
    _KINDS[prefix] = kind = TopicKind(**options)
    return kind


def _kind(topic: str) -> TopicKind:
    return _KINDS.get(topic.partition(":")[0], TopicKind())


@cache
def client(timeout: float | None = None) -> redis.Redis:
    # Publishing runs inside a request: wait for Redis no longer than a page, unless
    # the topic's kind says the event is worth waiting for.
    timeout = settings.REDIS_SOCKET_TIMEOUT if timeout is None else timeout
    return redis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=timeout, socket_timeout=timeout
    )


@cache
def _stream_client() -> redis.Redis:
    # A stream waits on its socket with select(); reads of a ready socket are quick.
    # Each open stream holds one connection of the pool: room for every thread.
    return redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=1.0,
        socket_timeout=5.0,
        max_connections=2000,
    )


@cache
def prefix() -> str:
    # Pub/sub channels are shared by every database of a Redis server: name the
    # database, so two CRMs (or test runs) on one server never cross.
    db = client().connection_pool.connection_kwargs.get("db", 0)
    return f"anju:{db}"


def channel_name(topic: str) -> str:
    return f"{prefix()}:{topic}"


def recent_key(topic: str) -> str:
    # The topic's last part stays last ("…:screen-pop:recent:42"): keys of one kind
    # share a prefix whatever their id.
    head, sep, tail = topic.rpartition(":")
    return (
        f"{prefix()}:{head}{sep}recent:{tail}" if sep else f"{prefix()}:recent:{topic}"
    )


def publish(topic: str, data: dict[str, Any], *, name: str = "message") -> str | None:
    """Keep the event for replay (as many and as long as the topic's kind says) and
    send it to the topic's open streams; returns its id. A Redis outage is logged,
    never raised: what happened is recorded all the same, and pages catch up when
    they reload."""
    body = json.dumps({"name": name, "data": data})
    kind = _kind(topic)
    redis_client = client(kind.publish_timeout)
    try:
        event_id = redis_client.xadd(
            recent_key(topic),
            {"data": body},
            maxlen=kind.keep_events or RECENT_MAX,
            approximate=True,
        )
        event_id = event_id.decode() if isinstance(event_id, bytes) else event_id
        with redis_client.pipeline(transaction=False) as pipe:
            pipe.expire(recent_key(topic), kind.keep_seconds or RECENT_SECONDS)
            pipe.publish(channel_name(topic), json.dumps({"id": event_id, "b": body}))
            pipe.execute()
    except redis.RedisError as exc:
        logger.warning("event not published on %s: %s", topic, exc)
        return None
    return event_id


def _id_tuple(event_id: str) -> tuple[int, int]:
    ms, _sep, seq = event_id.partition("-")
    try:
        return int(ms), int(seq or 0)
    except ValueError:
        return (0, 0)


def _replay_from(topic: str, last_id: str) -> str:
    """Where a replay starts: after the browser's last id, or, for a kind with a
    replay slack, that many milliseconds before it. Two events published at nearly
    the same moment may reach the channel in the other order than their ids (each
    is added to the topic's stream, then published), so an event older than the
    last one a browser saw may still have been on its way when it reconnected; the
    pages of such a kind ignore an event id they have already handled."""
    slack = _kind(topic).replay_slack_ms
    if not slack:
        return f"({last_id}"
    ms, _seq = _id_tuple(last_id)
    return f"{max(0, ms - slack)}-0"


def _frame(event_id: str, body: str) -> str:
    message = json.loads(body)
    return (
        f"id: {event_id}\nevent: {message['name']}\n"
        f"data: {json.dumps(message['data'])}\n\n"
    )


def valid_event_id(text: str) -> str:
    """A Last-Event-ID as Redis stream ids look ("1700000000000-0"), else ""."""
    ms, sep, seq = (text or "").strip().partition("-")
    if ms.isdigit() and seq.isdigit() and sep and len(text) < 40:
        return text.strip()
    return ""


def stream(
    topic: str,
    *,
    last_id: str = "",
    seconds: float | None = None,
    heartbeat: float | None = None,
) -> Iterator[str]:
    """The text of one server-sent events response for this topic.

    Subscribes first, then replays what came after ``last_id`` (see
    ``_replay_from``), then forwards what the channel brings until ``seconds`` have
    passed; an event both replayed and received is sent once. Events go out in the
    order they arrive, which is not always the order of their ids.
    """
    if seconds is None:
        seconds = (_kind(topic).stream_seconds or STREAM_SECONDS) * random.uniform(
            0.8, 1.0
        )
    heartbeat = HEARTBEAT_SECONDS if heartbeat is None else heartbeat
    redis_client = _stream_client()
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    try:
        pubsub.subscribe(channel_name(topic))
        yield f"retry: {RETRY_MS}\n: connected\n\n"
        sent: set[str] = set()
        if last_id:
            for raw_id, fields in redis_client.xrange(
                recent_key(topic), min=_replay_from(topic, last_id), max="+"
            ):
                event_id = raw_id.decode()
                sent.add(event_id)
                yield _frame(event_id, fields[b"data"].decode())
        deadline = time.monotonic() + seconds
        quiet_since = time.monotonic()
        while (left := deadline - time.monotonic()) > 0:
            message = pubsub.get_message(timeout=min(left, 1.0))
            if message is None:
                if time.monotonic() - quiet_since >= heartbeat:
                    quiet_since = time.monotonic()
                    yield ": keep-alive\n\n"
                continue
            envelope = json.loads(message["data"])
            event_id = envelope["id"]
            if event_id in sent:
                continue
            sent.add(event_id)
            quiet_since = time.monotonic()
            yield _frame(event_id, envelope["b"])
    except redis.RedisError as exc:
        # The browser reconnects after RETRY_MS and replays from its last id.
        logger.warning("event stream of %s broken: %s", topic, exc)
    finally:
        with contextlib.suppress(redis.RedisError):
            pubsub.close()


def _close_connection() -> None:
    if not connection.in_atomic_block:
        connection.close()


class _Slots:
    """How many of something a process has going at once, up to a limit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.used = 0

    def take(self, limit: int) -> bool:
        with self._lock:
            if self.used >= limit:
                return False
            self.used += 1
            return True

    def give(self) -> None:
        with self._lock:
            self.used -= 1


# The threaded streams (the page server's) this process serves at once.
_THREADED_STREAMS = _Slots()
# How long a browser turned away waits before it asks again.
BUSY_RETRY_MS = 10_000


def _without_database(events: Iterator[str]) -> Iterator[str]:
    """A threaded stream: it needs no database, so its connection goes back before
    the first event (the stream is read after the view and the middleware are
    done), and a hundred open pages do not hold a hundred PostgreSQL connections.

    Each holds one of the page server's threads for a stream's length: a process
    serves at most LIVE_THREADED_STREAMS at once and turns the others away with a
    retry, so that streams (a phone that could not reach the event-stream server,
    a buyer opening a hundred tabs) never take every thread from the pages."""
    _close_connection()
    if not _THREADED_STREAMS.take(settings.LIVE_THREADED_STREAMS):
        yield f"retry: {BUSY_RETRY_MS}\n: busy\n\n"
        return
    try:
        yield from events
    finally:
        _THREADED_STREAMS.give()


async def _awithout_database(events: AsyncIterator[str]) -> AsyncIterator[str]:
    """_without_database on the event loop: the request's sync code ran on a thread
    of its own (Django's ASGI handler gives each request one), whose connection
    would stay open as long as the stream; closed on that thread."""
    await sync_to_async(_close_connection)()
    async for chunk in events:
        yield chunk


class _Hub:
    """One process's pub/sub connection for every stream it serves (ASGI only).

    It subscribes once to the pattern of every topic of this Redis database and hands
    each event, framed once, to the queues of the topic's open streams. Subscribed
    before any stream joins, it never misses an event a stream then replays from the
    topic's recent stream, whatever the order in which Redis sees the two. When Redis
    breaks, every open stream ends (its browser reconnects and replays) and the next
    stream starts a new hub.
    """

    def __init__(self) -> None:
        self.redis = redis.asyncio.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=1.0, socket_timeout=5.0
        )
        # Subscribe messages are read once, to know the subscription holds.
        self.pubsub = self.redis.pubsub()
        self.listeners: dict[str, set[asyncio.Queue]] = {}
        self.reader: asyncio.Task | None = None
        self.broken = False

    async def start(self) -> None:
        await self.pubsub.psubscribe(f"{prefix()}:*")
        # Wait for Redis to confirm: from here on every publish reaches us.
        while True:
            message = await self.pubsub.get_message(timeout=5.0)
            if message is None:
                raise redis.RedisError("no subscription confirmation")
            if message["type"] == "psubscribe":
                break
        self.reader = asyncio.get_running_loop().create_task(self._read())

    def join(self, channel: str) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue()
        self.listeners.setdefault(channel, set()).add(queue)
        return queue

    def leave(self, channel: str, queue: asyncio.Queue) -> None:
        queues = self.listeners.get(channel)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self.listeners[channel]

    async def _read(self) -> None:
        try:
            while True:
                message = await self.pubsub.get_message(timeout=1.0)
                if message is None or message["type"] != "pmessage":
                    continue
                channel = message["channel"].decode()
                queues = self.listeners.get(channel)
                if not queues:
                    continue
                try:
                    envelope = json.loads(message["data"])
                    event = (envelope["id"], _frame(envelope["id"], envelope["b"]))
                except (ValueError, KeyError, TypeError):
                    logger.warning("event on %s not understood; skipped", channel)
                    continue
                for queue in queues:
                    queue.put_nowait(event)
        except (redis.RedisError, OSError) as exc:
            logger.warning("event hub lost Redis: %s", exc)
        finally:
            self.broken = True
            for queues in self.listeners.values():
                for queue in queues:
                    queue.put_nowait(None)
            with contextlib.suppress(Exception):
                await self.pubsub.aclose()


_hubs: dict[asyncio.AbstractEventLoop, _Hub] = {}
_hub_starting: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}


async def _hub() -> _Hub:
    loop = asyncio.get_running_loop()
    async with _hub_starting.setdefault(loop, asyncio.Lock()):
        hub = _hubs.get(loop)
        if hub is None or hub.broken:
            hub = _Hub()
            await hub.start()
            _hubs[loop] = hub
        return hub


async def astream(
    topic: str,
    *,
    last_id: str = "",
    seconds: float | None = None,
    heartbeat: float | None = None,
) -> AsyncIterator[str]:
    """``stream`` for an event loop: the same text, through the process's hub."""
    if seconds is None:
        seconds = (_kind(topic).stream_seconds or STREAM_SECONDS) * random.uniform(
            0.8, 1.0
        )
    heartbeat = HEARTBEAT_SECONDS if heartbeat is None else heartbeat
    try:
        hub = await _hub()
    except (redis.RedisError, OSError) as exc:
        logger.warning("event stream of %s not opened: %s", topic, exc)
        return
    channel = channel_name(topic)
    queue = hub.join(channel)
    try:
        yield f"retry: {RETRY_MS}\n: connected\n\n"
        sent: set[str] = set()
        if last_id:
            for raw_id, fields in await hub.redis.xrange(
                recent_key(topic), min=_replay_from(topic, last_id), max="+"
            ):
                event_id = raw_id.decode()
                sent.add(event_id)
                yield _frame(event_id, fields[b"data"].decode())
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = await asyncio.wait_for(queue.get(), min(left, heartbeat))
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            # Everything that arrived meanwhile goes out in one write: in a rush
            # a stream wakes up once for many sales, not once for each.
            frames = []
            while event:  # an event; None: the hub broke; False: no more
                event_id, frame = event
                if event_id not in sent:
                    sent.add(event_id)
                    frames.append(frame)
                event = queue.get_nowait() if not queue.empty() else False
            if frames:
                yield "".join(frames)
            if event is None:
                break  # the hub lost Redis: the browser reconnects and replays
    except (redis.RedisError, OSError) as exc:
        logger.warning("event stream of %s broken: %s", topic, exc)
    finally:
        hub.leave(channel, queue)


def live_view(view: Callable) -> Callable:
    """Marks a view whose answer is an event stream: the event-stream server
    (crm_site.live_server) serves it, and only such views."""
    view.live_view = True
    return view


def events_url(path: str) -> str:
    """The address a page's script opens an event stream at: on the event-stream
    server when LIVE_EVENTS_URL names one, else on this server."""
    base = getattr(settings, "LIVE_EVENTS_URL", "")
    return f"{base.rstrip('/')}{path}" if base else path


def _under_asgi(request: HttpRequest) -> bool:
    return hasattr(request, "scope")


def sse_response(request: HttpRequest, topic: str) -> StreamingHttpResponse:
    """The server-sent events response of a view that has checked who may listen."""
    last_id = valid_event_id(
        request.headers.get("Last-Event-ID", "") or request.GET.get("last", "")
    )
    if _under_asgi(request):
        # The view ran on the request's thread for sync code; the stream itself
        # runs on the event loop and holds no database connection.
        events = _awithout_database(astream(topic, last_id=last_id))
    else:
        events = _without_database(stream(topic, last_id=last_id))
    response = StreamingHttpResponse(
        events, content_type="text/event-stream; charset=utf-8"
    )
    response["Cache-Control"] = "no-store"
    # nginx and similar proxies: pass each event on at once.
    response["X-Accel-Buffering"] = "no"
    return response
