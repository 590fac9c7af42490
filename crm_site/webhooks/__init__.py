"""Signed webhooks: other systems are told when something happens in the CRM.

- Each app declares the event types it sends in its own ``<app>/webhooks.py``
  (``register_event``), imported from its AppConfig.ready(); crm_site imports no app.
- A service calls ``emit("customer.created", data={"customer_id": 7})`` inside its
  transaction: one event row and one delivery row per subscription that wants it
  (a single INSERT each), each delivery queued as a task once the transaction commits.
  When nobody subscribes, nothing is written (the subscription set is cached by
  version, crm_site.fragments).
- Deliveries are rows of the one outbox (crm_site.outbox): claimed, POSTed, retried
  with back-off for up to 24 hours, and recovered after a crash by the outbox's own
  loop (crm_site.webhooks.delivery.WebhookKind).

Payloads are thin: ids, codes, timestamps and the API URL of the resource, never a
name, phone or ID number. The receiver reads the rest through the API with its key,
where the key's row scope and masking apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.functional import Promise

# Keys a payload may never carry: the payload is not the place for personal data.
PERSONAL_KEYS = frozenset(
    {"name", "phone", "mobile", "email", "id_number", "address", "wechat", "comment"}
)
# A payload's text values are codes and timestamps, never prose: this long at most.
MAX_TEXT = 64


@dataclass(frozen=True)
class EventType:
    name: str
    label: Promise
    # The see-permission the key's user needs to subscribe to it.
    permission: str
    # The API resource the event is about: its path under /api/v1/ and the data key
    # holding its id, e.g. ("customers/{}/", "customer_id").
    resource: tuple[str, str] | None = None


_types: dict[str, EventType] = {}


def register_event(
    name: str,
    label: Promise,
    *,
    permission: str,
    resource: tuple[str, str] | None = None,
) -> EventType:
    """Declare an event type once (each app, from its AppConfig.ready())."""
    event = _types.setdefault(name, EventType(name, label, permission, resource))
    return event


def event_types() -> list[EventType]:
    return sorted(_types.values(), key=lambda e: e.name)


def event_type(name: str) -> EventType:
    return _types[name]


def check_payload(event: str, data: dict[str, Any]) -> None:
    """Refuse anything that is not an id, a code, a flag or a timestamp."""
    for key, value in data.items():
        if key.lower() in PERSONAL_KEYS:
            raise ValueError(f"webhook {event}: {key!r} is personal data")
        if isinstance(value, str) and len(value) > MAX_TEXT:
            raise ValueError(f"webhook {event}: {key!r} is text, not a code")
        if isinstance(value, list) and all(
            isinstance(v, str) and len(v) <= MAX_TEXT for v in value
        ):
            continue
        if not isinstance(value, (int, str, bool, type(None))):
            raise ValueError(f"webhook {event}: {key!r} must be an id or a code")


def emit(event: str, *, data: dict[str, Any]) -> None:
    """Record that ``event`` happened, for every subscription that wants it. Call it
    inside the service's transaction: the rows commit (or roll back) with the change.
    """
    from crm_site.webhooks.services import event_emit

    event_emit(event, data=data)


def emit_many(event: str, *, data: list[dict[str, Any]]) -> None:
    """``emit`` for many objects at once (an import): one INSERT of events and one of
    deliveries, whatever the count."""
    from crm_site.webhooks.services import event_emit_many

    event_emit_many(event, data=data)
