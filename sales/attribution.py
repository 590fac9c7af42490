"""Which campaign a new deal is credited to. Marketing registers the rule here (in its
AppConfig.ready), so sales needs no import of it; with nothing registered, none."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_RESOLVERS: list[Callable[..., int | None]] = []


def register(resolver: Callable[..., int | None]) -> None:
    """resolver(customer=..., project=...) returns a campaign id or None: a deal is
    credited only to a campaign of its own project."""
    if resolver not in _RESOLVERS:
        _RESOLVERS.append(resolver)


def campaign_for(*, customer: Any, project: Any) -> int | None:
    for resolver in _RESOLVERS:
        campaign_id = resolver(customer=customer, project=project)
        if campaign_id is not None:
            return campaign_id
    return None
