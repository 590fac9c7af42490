"""Panels other apps add to the customer page, so customers needs no import of them.

An app registers a template and a function giving its context for (customer, user);
the function returns None when it has nothing to show that user. A panel whose content
follows the timeline (sales' ownership: a visit renews protection) registers with
``refresh_on_log=True``: after a quick log on the customer page the base re-renders
it in place (an htmx out-of-band swap), without the page being reloaded.

The panels sit below the timeline and are loaded right after the page (one htmx
request for all of them, customers.views.customer_panels), so the page itself costs
none of their queries. ``shown_to`` (a check on the user alone, no query) lets the
page skip that request for users who could never see the panel.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Panel:
    template: str
    context: dict[str, Any]
    refresh_on_log: bool = False

    @property
    def dom_id(self) -> str:
        """The id of the element wrapping the panel, which an out-of-band swap finds."""
        return dom_id(self.template)


@dataclass(frozen=True)
class _Registered:
    order: int
    template: str
    context: Callable[..., dict[str, Any] | None]
    refresh_on_log: bool
    shown_to: Callable[[Any], bool] | None = None


_PANELS: list[_Registered] = []


def dom_id(template: str) -> str:
    """'sales/_customer_panel.html' -> 'panel-sales-customer-panel'."""
    stem = template.removesuffix(".html")
    return "panel-" + "-".join(part for part in re.split(r"[^a-z0-9]+", stem) if part)


def register(
    *,
    template: str,
    context: Callable[..., dict[str, Any] | None],
    order: int = 50,
    refresh_on_log: bool = False,
    shown_to: Callable[[Any], bool] | None = None,
) -> None:
    if all(p.template != template for p in _PANELS):
        _PANELS.append(_Registered(order, template, context, refresh_on_log, shown_to))
        _PANELS.sort(key=lambda p: p.order)


def any_for(user: Any) -> bool:
    """Whether some panel may show for this user (then the page loads them)."""
    return any(p.shown_to is None or p.shown_to(user) for p in _PANELS)


def for_customer(
    *, customer: Any, user: Any, refreshed_only: bool = False
) -> list[Panel]:
    """The panels to show; ``refreshed_only``: those re-rendered after a quick log."""
    panels = []
    for registered in _PANELS:
        if refreshed_only and not registered.refresh_on_log:
            continue
        if registered.shown_to is not None and not registered.shown_to(user):
            continue
        data = registered.context(customer=customer, user=user)
        if data is not None:
            panels.append(Panel(registered.template, data, registered.refresh_on_log))
    return panels
