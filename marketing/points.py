"""Where club points come from: a registry of point sources, like crm_site.panels.

A source is a kind of fact that earns points (a referral reaching contract, an event
attended, a survey answered, a year of ownership). The app that sees the fact registers
the source in its AppConfig.ready() with a function listing its occurrences, so
marketing never imports that app:

    from marketing.points import Occurrence, register_point_source

    register_point_source(
        "survey_answered",
        label=gettext_lazy("Survey answered"),
        occurrences=answered_surveys,  # (since, customer_ids) -> Iterable[Occurrence]
    )

``occurrences(since=..., customer_ids=...)`` yields the occurrences that happened at or
after ``since`` (None: all of them), of the given customers only when ``customer_ids``
is not None. Each occurrence has a key unique across every source ("survey:123"): the
ledger's unique index on it makes awarding the same occurrence twice a no-op. The
company gives each source its points in the admin (marketing.models.PointRule).

This module imports no model, so models can take their choices from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class Occurrence:
    customer_id: int
    key: str
    occurred_at: datetime


class OccurrenceFinder(Protocol):
    def __call__(
        self, *, since: datetime | None, customer_ids: Iterable[int] | None
    ) -> Iterable[Occurrence]: ...


@dataclass(frozen=True)
class PointSource:
    key: str
    label: Any  # a lazy translation
    occurrences: OccurrenceFinder
    order: int = 100


_SOURCES: dict[str, PointSource] = {}


def register_point_source(
    key: str,
    *,
    label: Any,
    occurrences: OccurrenceFinder | Callable[..., Iterable[Occurrence]],
    order: int = 100,
) -> PointSource:
    """Declare a source of points; registering the same key again replaces it."""
    source = PointSource(key=key, label=label, occurrences=occurrences, order=order)
    _SOURCES[key] = source
    return source


def point_sources() -> list[PointSource]:
    return sorted(_SOURCES.values(), key=lambda s: (s.order, s.key))


def point_source(key: str) -> PointSource | None:
    return _SOURCES.get(key)


def source_label(key: str) -> str:
    source = _SOURCES.get(key)
    return str(source.label) if source else key


def source_choices() -> list[tuple[str, Any]]:
    """The rule form's choices (a callable, read when the form is built)."""
    return [(source.key, source.label) for source in point_sources()]
