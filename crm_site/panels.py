"""Panels other apps add to the customer page, so customers needs no import of them.

An app registers a template and a function giving its context for (customer, user);
the function returns None when it has nothing to show that user.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Panel:
    template: str
    context: dict[str, Any]


_PANELS: list[tuple[int, str, Callable[..., dict[str, Any] | None]]] = []


def register(
    *, template: str, context: Callable[..., dict[str, Any] | None], order: int = 50
) -> None:
    if all(t != template for _o, t, _c in _PANELS):
        _PANELS.append((order, template, context))
        _PANELS.sort(key=lambda item: item[0])


def for_customer(*, customer: Any, user: Any) -> list[Panel]:
    panels = []
    for _order, template, context in _PANELS:
        data = context(customer=customer, user=user)
        if data is not None:
            panels.append(Panel(template, data))
    return panels
