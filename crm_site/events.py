"""System text is data: what the system writes is an event code plus parameters.

A timeline entry, a notification or a step that the system writes stores the code of
an event and the values of its parameters (JSON). The words are chosen when the entry
is shown, in the reader's language: a consultant reading in Chinese and a manager
reading in English see the same entry in their own words, and a catalog fix reaches
old entries too.

Each app declares its events in its own ``events.py`` and registers them when its
``AppConfig.ready()`` runs, so ``crm_site`` imports no app::

    DEAL_STAGE = events.register(
        "sales.deal_stage",
        _("Deal %(project)s: %(old)s → %(new)s"),
        project=events.Text(),
        old=events.Choice("sales.Opportunity", "stage"),
        new=events.Choice("sales.Opportunity", "stage"),
    )
    interaction_log(..., entry=DEAL_STAGE(project=p.name, old=..., new=...), summary=note)

Parameter kinds say how a stored value is written for a reader: ``Text`` is the
user's own data shown as typed (a name, a unit number), ``Choice`` a stored choice
shown by its label, ``Money`` a Decimal shown as yuan, ``Date`` an ISO date,
``Number`` a number with its digit groups. Personal numbers (mobiles, ID numbers) are
never parameters: an entry links to the record instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.apps import apps
from django.utils import formats
from django.utils.functional import Promise

from crm_site.templatetags.money import yuan

MISSING = "—"


class Param:
    """How one stored value is written for a reader."""

    def store(self, value: Any) -> Any:
        """The JSON value kept in the row."""
        if value is None:
            return ""
        return str(value)

    def show(self, value: Any) -> str:
        return str(value) if value not in (None, "") else MISSING


@dataclass(frozen=True)
class Text(Param):
    """Data as the user typed it: a name, a unit number, a project."""

    limit: int = 200

    def store(self, value: Any) -> Any:
        return "" if value is None else str(value)[: self.limit]


@dataclass(frozen=True)
class Choice(Param):
    """A stored choice value (``"contract"``), shown by its label (``签约``)."""

    model: str
    field_name: str

    def store(self, value: Any) -> Any:
        return "" if value is None else str(value)

    def show(self, value: Any) -> str:
        if value in (None, ""):
            return MISSING
        model = apps.get_model(self.model)
        # Keys as text: an integer choice (a level) is stored as "2".
        choices = {
            str(key): label
            for key, label in model._meta.get_field(self.field_name).flatchoices
        }
        label = choices.get(str(value))
        return str(label) if label is not None else str(value)


@dataclass(frozen=True)
class Money(Param):
    """An amount in yuan, kept as a Decimal string, shown as ``¥2,350,000.00``."""

    def store(self, value: Any) -> Any:
        if value in (None, ""):
            return ""
        return str(Decimal(value).quantize(Decimal("0.01")))

    def show(self, value: Any) -> str:
        try:
            amount = Decimal(value)
        except (InvalidOperation, TypeError, ValueError):
            return MISSING if value in (None, "") else str(value)
        # Grouped by thousands in every language, as the money tags write it.
        return yuan(amount, 2)


@dataclass(frozen=True)
class Number(Param):
    """A count or a percentage, shown with its digit groups and no trailing zeros."""

    def store(self, value: Any) -> Any:
        if value in (None, ""):
            return ""
        # Always a string, without an exponent: Decimal("100.00").normalize() is 1E+2.
        return format(Decimal(str(value)).normalize(), "f")

    def show(self, value: Any) -> str:
        try:
            number = Decimal(str(value))
        except (InvalidOperation, TypeError, ValueError):
            return MISSING if value in (None, "") else str(value)
        if number == number.to_integral_value():
            return f"{int(number):,}"
        return f"{number.normalize():,f}"


@dataclass(frozen=True)
class Date(Param):
    """A day, kept as ``YYYY-MM-DD``, shown as people write it (2026-12-10)."""

    def store(self, value: Any) -> Any:
        if value in (None, ""):
            return ""
        if isinstance(value, dt.datetime):
            value = value.date()
        return value.isoformat() if isinstance(value, dt.date) else str(value)

    def show(self, value: Any) -> str:
        try:
            day = dt.date.fromisoformat(str(value))
        except ValueError:
            return MISSING if value in (None, "") else str(value)
        return formats.date_format(day, "Y-m-d")


@dataclass(frozen=True)
class DateTime(Param):
    """A moment, kept in ISO form, shown in local time (2026-12-10 14:30)."""

    def store(self, value: Any) -> Any:
        if value in (None, ""):
            return ""
        return value.isoformat() if isinstance(value, dt.datetime) else str(value)

    def show(self, value: Any) -> str:
        from django.utils import timezone

        try:
            moment = dt.datetime.fromisoformat(str(value))
        except ValueError:
            return MISSING if value in (None, "") else str(value)
        if timezone.is_aware(moment):
            moment = timezone.localtime(moment)
        return formats.date_format(moment, "Y-m-d H:i")


@dataclass(frozen=True)
class Nested(Param):
    """Another entry inside this one (why a deal or a request moved), kept as its code
    and parameters and shown in the reader's words."""

    def store(self, value: Any) -> Any:
        if value in (None, ""):
            return {}
        if isinstance(value, Entry):
            return {"event": value.code, "params": value.params}
        raise TypeError(f"a nested parameter takes an Entry, not {value!r}")

    def show(self, value: Any) -> str:
        if not isinstance(value, Mapping) or not value.get("event"):
            return MISSING if value in (None, "", {}) else str(value)
        return render(value["event"], value.get("params"), fallback=MISSING)


@dataclass(frozen=True)
class Entry:
    """One occurrence of an event, as stored: its code and its JSON parameters."""

    code: str
    params: dict[str, Any]

    def __str__(self) -> str:
        return render(self.code, self.params)


@dataclass(frozen=True)
class Event:
    code: str
    message: Promise
    params: Mapping[str, Param] = field(default_factory=dict)
    # Formats this event's prose had before it was an event (untranslated), so a
    # data migration can recognise old rows (crm_site.events_legacy).
    legacy: tuple[str, ...] = ()

    def __call__(self, **values: Any) -> Entry:
        """The entry to store for this event (unknown or missing names refused)."""
        if set(values) != set(self.params):
            raise TypeError(
                f"{self.code}: parameters {sorted(values)}, "
                f"expected {sorted(self.params)}"
            )
        return Entry(
            self.code,
            {name: kind.store(values[name]) for name, kind in self.params.items()},
        )

    def render(self, values: Mapping[str, Any] | None) -> str:
        values = values or {}
        shown = {
            name: kind.show(values.get(name)) for name, kind in self.params.items()
        }
        # str() of the lazy message translates it into the active language.
        return str(self.message) % shown if shown else str(self.message)


_EVENTS: dict[str, Event] = {}


def register(
    code: str, message: Promise, *, legacy: tuple[str, ...] = (), **params: Param
) -> Event:
    """Declare an event once (at import of the app's events module)."""
    existing = _EVENTS.get(code)
    if existing is not None:
        return existing
    event = Event(code, message, params, legacy)
    _EVENTS[code] = event
    return event


def get(code: str) -> Event | None:
    return _EVENTS.get(code)


def registered() -> dict[str, Event]:
    return dict(_EVENTS)


def render(code: str, values: Mapping[str, Any] | None, fallback: str = "") -> str:
    """The entry in the active language; an unknown code shows what was stored."""
    event = _EVENTS.get(code) if code else None
    if event is None:
        return fallback
    return event.render(values)


def text_of(code: str, values: Mapping[str, Any] | None, note: str = "") -> str:
    """An entry as shown: the event's words, then the person's own note if any."""
    if not code:
        return note
    words = render(code, values, fallback=note)
    if note and words != note:
        return f"{words} · {note}"
    return words
