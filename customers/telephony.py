"""The call-centre screen pop (来电弹屏): the card's sections, and the push to the agent.

The telephony system posts call events to the API (customers.telephony_api); the
service (customers.services.telephony) records them and, once a ringing call is
committed, ``publish``es it here:

- on Redis pub/sub, on a channel per agent, which reaches whichever web worker holds
  that agent's event stream (customers.views.telephony.screen_pop_stream);
- and into a short Redis stream per agent (crm_site.live: the push is the same for every topic), whose entry id is the
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

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import redis
from django.core.cache import cache as django_cache

from crm_site import live

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


def extension_key(user_id: int) -> str:
    return f"telephony:extension:{user_id}"


def extension_of(user: Any) -> str:
    """The user's extension ("" for none): cached, so pages cost no query for it."""
    key = extension_key(user.pk)
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
    django_cache.set(extension_key(user_id), extension or _NONE, None)


# The push to the agent: one crm_site.live topic per agent ------------------------------


def _topic(user_id: int) -> str:
    return f"screen-pop:{user_id}"


def _client() -> redis.Redis:
    return live.client()


def _prefix() -> str:
    return f"{live.prefix()}:screen-pop"


def channel_name(user_id: int) -> str:
    return live.channel_name(_topic(user_id))


def recent_key(user_id: int) -> str:
    return live.recent_key(_topic(user_id))


def publish(*, user_id: int, event: str, call_id: int, card_url: str) -> str | None:
    """Keep the event for replay and send it to the agent's open streams; returns its
    id. A Redis outage is logged, never raised: the call is recorded all the same."""
    payload = {"event": event, "call": call_id, "card": card_url, "at": time.time()}
    return live.publish(_topic(user_id), payload, name="call")


valid_event_id = live.valid_event_id


def stream(
    *,
    user_id: int,
    last_id: str = "",
    seconds: float | None = None,
    heartbeat: float | None = None,
) -> Iterator[str]:
    """The text of one server-sent events response for this agent (crm_site.live)."""
    return live.stream(
        _topic(user_id), last_id=last_id, seconds=seconds, heartbeat=heartbeat
    )
