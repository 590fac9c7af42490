"""Recognise prose the system wrote before its entries were events.

Older timeline entries and notifications hold words in the language of whoever
caused them. A data migration turns each into the event it came from: every
registered event's message, in every language the site speaks, and the formats it
used before it had a message (``Event.legacy``), become patterns; a parameter's
words go back to what is stored (a label to its choice value, ``¥2,350.00`` to
``2350.00``). Text that matches no event stays as it was: it is shown as written.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db.models import Q
from django.utils import translation

from crm_site import events

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
NOTE_SEPARATOR = " · "
NOTE = "_note"


def _regex(template: str) -> re.Pattern[str] | None:
    parts, names, pos = [], set(), 0
    for match in _PLACEHOLDER.finditer(template):
        parts.append(re.escape(template[pos : match.start()].replace("%%", "%")))
        name = match.group(1)
        if name in names:
            return None
        names.add(name)
        # A legacy format's %(_note)s is where the person's words were written.
        parts.append("(?P<_note>.*)" if name == NOTE else f"(?P<{name}>.+?)")
        pos = match.end()
    parts.append(re.escape(template[pos:].replace("%%", "%")))
    body = "".join(parts)
    if NOTE in names:
        return re.compile(body, re.S)
    # Otherwise the person's note, if any, followed the words after a middle dot.
    return re.compile(f"{body}(?:{re.escape(NOTE_SEPARATOR)}(?P<{NOTE}>.*))?", re.S)


def _literal_length(template: str) -> int:
    return len(_PLACEHOLDER.sub("", template))


@cache
def _patterns() -> list[tuple[events.Event, re.Pattern[str]]]:
    found: list[tuple[int, events.Event, re.Pattern[str]]] = []
    for event in events.registered().values():
        templates = set(event.legacy)
        for code, _name in settings.LANGUAGES:
            with translation.override(code):
                templates.add(str(event.message))
        for template in templates:
            regex = _regex(template)
            if regex is not None:
                found.append((_literal_length(template), event, regex))
    # The most specific wording first: "%(kind)s" alone must not swallow the rest.
    found.sort(key=lambda item: -item[0])
    return [(event, regex) for _length, event, regex in found]


@cache
def _choice_values(model: str, field_name: str) -> dict[str, str]:
    """Label (in every language) or stored value -> stored value."""
    field = apps.get_model(model)._meta.get_field(field_name)
    values: dict[str, str] = {}
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            for value, label in field.flatchoices:
                values[str(label)] = str(value)
    for value, _label in field.flatchoices:
        values[str(value)] = str(value)
    return values


def _stored(kind: events.Param, words: str) -> Any:
    """What the parameter stores for the words it was shown as; None if not its words."""
    words = words.strip()
    if isinstance(kind, events.Nested):
        return None  # an entry inside an entry was never written as words
    if isinstance(kind, events.Choice):
        return _choice_values(kind.model, kind.field_name).get(words)
    if isinstance(kind, events.Money | events.Number):
        cleaned = words.replace("¥", "").replace(",", "").replace("%", "").strip()
        try:
            return kind.store(Decimal(cleaned))
        except InvalidOperation:
            return None
    return kind.store(words)


def parse(text: str) -> tuple[events.Entry, str] | None:
    """The event behind old prose and the person's note that followed it, if any."""
    text = text.strip()
    for event, regex in _patterns():
        match = regex.fullmatch(text)
        if match is None:
            continue
        values = {}
        for name, kind in event.params.items():
            words = match.groupdict().get(name)
            try:
                value = _stored(kind, words) if words is not None else None
            except (TypeError, ValueError):
                value = None
            if value is None:
                break
            values[name] = value
        else:
            return events.Entry(event.code, values), (match.group(NOTE) or "").strip()
    return None


def events_from_text(
    model: Any, *, text_field: str, candidates: Q | None = None, batch: int = 2000
) -> int:
    """Turn the prose of a model's rows into events, in batches; how many changed.

    For data migrations (``model`` is the historical model): rows are read in primary
    key order, a batch at a time, so five million entries never sit in memory; a
    row whose words match no event keeps them.
    """
    rows_of = model.objects.filter(event="")
    if candidates is not None:
        rows_of = rows_of.filter(candidates)
    changed, last_pk = 0, 0
    while True:
        rows = list(
            rows_of.filter(pk__gt=last_pk)
            .order_by("pk")
            .values_list("pk", text_field)[:batch]
        )
        if not rows:
            return changed
        last_pk = rows[-1][0]
        updates = []
        for pk, text in rows:
            found = parse(text or "")
            if found is not None:
                entry, note = found
                updates.append(
                    model(
                        pk=pk,
                        event=entry.code,
                        params=entry.params,
                        **{text_field: note},
                    )
                )
        model.objects.bulk_update(updates, ["event", "params", text_field])
        changed += len(updates)
