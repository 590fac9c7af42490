"""Which integration is calling, for the audit trail (``AuditEntry.via``).

The API's base classes (crm_site.api.views) set it for the length of a call; the
field's default reads it, so every audit row written during the call — by
``audit_record``, ``audited_update`` or a service's own ``bulk_create`` — carries
the key's name without any service knowing about the API.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_via: ContextVar[str] = ContextVar("api_via", default="")


def current_via() -> str:
    """The calling key's name, or "" outside an API call (the field's default)."""
    return _via.get()


@contextmanager
def calling_as(name: str) -> Iterator[None]:
    token = _via.set(name)
    try:
        yield
    finally:
        _via.reset(token)


def enter(name: str):
    """Set the caller for the rest of the call; returns the token for ``leave``."""
    return _via.set(name)


def leave(token) -> None:
    _via.reset(token)
