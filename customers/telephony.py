"""The call-centre screen pop (来电弹屏): the card's sections, and the push to the agent.

The telephony system posts call events to the API (customers.telephony_api); the
service (customers.services.telephony) records them and, once a ringing call is
committed, ``publish``es it here:

- on Redis pub/sub, on a channel per agent, which reaches whichever web worker holds
  that agent's event stream (customers.views.telephony.screen_pop_stream);
- and into a short Redis stream per agent (``RECENT_SECONDS``), whose entry id is the
  server-sent event's id: a browser that reconnects (a stream ends after
  ``STREAM_SECONDS``, or the agent moves to another page) sends the last id it saw
  and gets what it missed meanwhile, so no ringing is lost between two connections.

Nothing personal goes through Redis: an event carries the call's id and the URL of
its card, which the browser then fetches as the agent (masking, row scope).

The card's sections come from the apps, like crm_site.panels: sales adds the
caller's units and deals, service their open requests and the link that opens a
service request prefilled; customers imports neither::

    telephony.register_section(
        key="service.requests", template="service/_screen_pop_requests.html",
        context=requests_context, order=20,
    )

``context(call=, customer=, user=)`` returns the section's template context, or None
when it has nothing to show. ``customer`` is None for a caller nobody can match (or
whom the agent may not open). Each section costs a fixed number of queries,
whatever the customer's history.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache as django_cache

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


# The card's sections -----------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    key: str
    template: str
    context: Callable[..., dict[str, Any] | None]
    order: int = 50


@dataclass(frozen=True)
class Shown:
    template: str
    context: dict[str, Any]


_SECTIONS: dict[str, Section] = {}


def register_section(
    *,
    key: str,
    template: str,
    context: Callable[..., dict[str, Any] | None],
    order: int = 50,
) -> None:
    """Add a section to the card; registering a key again replaces it."""
    _SECTIONS[key] = Section(key, template, context, order)


def card_sections(*, call: Any, customer: Any, user: Any) -> list[Shown]:
    shown = []
    for section in sorted(_SECTIONS.values(), key=lambda s: (s.order, s.key)):
        data = section.context(call=call, customer=customer, user=user)
        if data is not None:
            shown.append(Shown(section.template, data))
    return shown


# Who has an extension (asked on every page, so cached) ----------------------------

_NONE = "-"


def _extension_key(user_id: int) -> str:
    return f"telephony:extension:{user_id}"


def extension_of(user: Any) -> str:
    """The user's extension ("" for none): cached, so pages cost no query for it."""
    key = _extension_key(user.pk)
    value = django_cache.get(key)
    if value is None:
        from customers.models import AgentExtension

        value = (
            AgentExtension.objects.filter(user_id=user.pk)
            .values_list("extension", flat=True)
            .first()
        ) or _NONE
        django_cache.set(key, value, None)
    return "" if value == _NONE else value


def remember_extension(user_id: int, extension: str) -> None:
    """Keep the cache in step with the admin's change (called on commit)."""
    django_cache.set(_extension_key(user_id), extension or _NONE, None)


# Redis: the channel per agent and the recent events ---------------------------------


@cache
def _client() -> redis.Redis:
    # Publishing runs inside an API request: wait for Redis no longer than a page.
    return redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT,
        socket_timeout=settings.REDIS_SOCKET_TIMEOUT,
    )


@cache
def _stream_client() -> redis.Redis:
    # A stream waits on its socket with select(); reads of a ready socket are quick.
    return redis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=1.0, socket_timeout=5.0
    )


@cache
def _prefix() -> str:
    # Pub/sub channels are shared by every database of a Redis server: name the
    # database, so two CRMs (or test runs) on one server never cross.
    db = _client().connection_pool.connection_kwargs.get("db", 0)
    return f"anju:{db}:screen-pop"


def channel_name(user_id: int) -> str:
    return f"{_prefix()}:{user_id}"


def recent_key(user_id: int) -> str:
    return f"{_prefix()}:recent:{user_id}"


def publish(*, user_id: int, event: str, call_id: int, card_url: str) -> str | None:
    """Keep the event for replay and send it to the agent's open streams; returns its
    id. A Redis outage is logged, never raised: the call is recorded all the same."""
    payload = {"event": event, "call": call_id, "card": card_url, "at": time.time()}
    client = _client()
    try:
        event_id = client.xadd(
            recent_key(user_id),
            {"data": json.dumps(payload)},
            maxlen=RECENT_MAX,
            approximate=True,
        )
        event_id = event_id.decode() if isinstance(event_id, bytes) else event_id
        with client.pipeline(transaction=False) as pipe:
            pipe.expire(recent_key(user_id), RECENT_SECONDS)
            pipe.publish(channel_name(user_id), json.dumps({"id": event_id, **payload}))
            pipe.execute()
    except redis.RedisError as exc:
        logger.warning("screen pop not published for user %s: %s", user_id, exc)
        return None
    return event_id


def _id_tuple(event_id: str) -> tuple[int, int]:
    ms, _sep, seq = event_id.partition("-")
    try:
        return int(ms), int(seq or 0)
    except ValueError:
        return (0, 0)


def _frame(event_id: str, data: dict[str, Any]) -> str:
    return f"id: {event_id}\nevent: call\ndata: {json.dumps(data)}\n\n"


def valid_event_id(text: str) -> str:
    """A Last-Event-ID as Redis stream ids look ("1700000000000-0"), else ""."""
    ms, sep, seq = (text or "").strip().partition("-")
    if ms.isdigit() and seq.isdigit() and sep and len(text) < 40:
        return text.strip()
    return ""


def stream(
    *,
    user_id: int,
    last_id: str = "",
    seconds: float | None = None,
    heartbeat: float | None = None,
) -> Iterator[str]:
    """The text of one server-sent events response for this agent.

    Subscribes first, then replays what came after ``last_id``, then forwards what
    the channel brings until ``seconds`` have passed; an event both replayed and
    received is sent once (ids only grow).
    """
    if seconds is None:
        seconds = STREAM_SECONDS * random.uniform(0.8, 1.0)
    heartbeat = HEARTBEAT_SECONDS if heartbeat is None else heartbeat
    client = _stream_client()
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    try:
        pubsub.subscribe(channel_name(user_id))
        yield f"retry: {RETRY_MS}\n: connected\n\n"
        sent = _id_tuple(last_id) if last_id else (0, 0)
        if last_id:
            for raw_id, fields in client.xrange(
                recent_key(user_id), min=f"({last_id}", max="+"
            ):
                event_id = raw_id.decode()
                data = json.loads(fields[b"data"])
                sent = max(sent, _id_tuple(event_id))
                yield _frame(event_id, data)
        deadline = time.monotonic() + seconds
        quiet_since = time.monotonic()
        while (left := deadline - time.monotonic()) > 0:
            message = pubsub.get_message(timeout=min(left, 1.0))
            if message is None:
                if time.monotonic() - quiet_since >= heartbeat:
                    quiet_since = time.monotonic()
                    yield ": keep-alive\n\n"
                continue
            data = json.loads(message["data"])
            event_id = data.pop("id")
            if _id_tuple(event_id) <= sent:
                continue
            sent = _id_tuple(event_id)
            quiet_since = time.monotonic()
            yield _frame(event_id, data)
    except redis.RedisError as exc:
        # The browser reconnects after RETRY_MS and replays from its last id.
        logger.warning("screen pop stream of user %s broken: %s", user_id, exc)
    finally:
        with contextlib.suppress(redis.RedisError):
            pubsub.close()
