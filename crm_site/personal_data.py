"""Personal-information requests (PIPL): what each app holds about one customer, and
how it anonymises it.

Like crm_site.panels, each app registers its sections in AppConfig.ready(), so neither
crm_site nor customers imports the apps that own the rows. A section knows, for one
customer:

- ``count`` and ``export``: how many rows it holds and the rows themselves, each a
  dict of translated column labels to values (one query per section, whatever the
  number of rows);
- ``anonymise``: blanks or replaces the personal fields of what may be anonymised,
  deletes what has no other use, and returns how many rows it changed;
- ``retained``: what it keeps and why (contracts and receipts are legal and
  accounting records), as reason codes of its own ``reasons`` with counts;
- ``blockers``: why the customer may not be anonymised yet (an open service request,
  an open deal before contract), in the reader's language;
- ``related``: the objects of its app that are about the customer
  ({"app_label.model": [ids]}), so the audit trail and notifications about them are
  found without crm_site knowing those models;
- ``covers``: the relations to Customer it answers for ("app_label.Model.field"); a
  test fails when a relation in the model registry is covered by no section.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models, transaction
from django.db.models import QuerySet
from django.utils import formats, timezone
from django.utils.translation import gettext as _

Row = dict[str, Any]


@dataclass
class Erasure:
    """What every anonymiser of one request shares: who, when, the replacement name,
    the customer's identifying texts (to scrub from free text written about them) and
    the files to delete once the transaction has committed."""

    actor: Any
    at: datetime
    label: str
    texts: list[str]
    files: list[tuple[Any, str]] = field(default_factory=list)
    related: dict[str, list[int]] = field(default_factory=dict)

    def scrub(self, text: str) -> str:
        """The text with every identifying string of the customer replaced."""
        for value in self.texts:
            if value and value in text:
                text = text.replace(value, self.label)
        return text

    def delete_file_on_commit(self, file: Any) -> None:
        """A file field's file, deleted from storage only once the transaction commits
        (a rolled-back anonymisation must leave it where it was)."""
        if file and file.name:
            self.files.append((file.storage, file.name))


@dataclass(frozen=True)
class Section:
    key: str
    title: Any
    count: Callable[[Any], int]
    export: Callable[[Any], list[Row]]
    covers: tuple[str, ...] = ()
    anonymise: Callable[..., int] | None = None
    retained: Callable[[Any], dict[str, int]] | None = None
    reasons: dict[str, Any] = field(default_factory=dict)
    blockers: Callable[[Any], list[str]] | None = None
    related: Callable[[Any], dict[str, list[int]]] | None = None
    order: int = 50


_SECTIONS: dict[str, Section] = {}


def register(section: Section) -> None:
    """Add a section; registering the same key again replaces it (ready() may run twice)."""
    _SECTIONS[section.key] = section


def sections() -> list[Section]:
    return sorted(_SECTIONS.values(), key=lambda s: (s.order, s.key))


def section(key: str) -> Section | None:
    return _SECTIONS.get(key)


def covered_relations() -> set[str]:
    return {relation for s in _SECTIONS.values() for relation in s.covers}


def customer_relations() -> set[str]:
    """Every relation to Customer in the model registry, as "app_label.Model.field"."""
    customer = apps.get_model("customers", "Customer")
    found = set()
    for model in apps.get_models(include_auto_created=True):
        for f in model._meta.get_fields():
            if (
                f.concrete
                and f.is_relation
                and (f.many_to_one or f.one_to_one or f.many_to_many)
                and f.related_model is customer
            ):
                found.add(f"{model._meta.label}.{f.name}")
    return found


# Reading ---------------------------------------------------------------------------


def related_objects(customer: Any) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for s in sections():
        if s.related is not None:
            for label, ids in s.related(customer).items():
                found.setdefault(label, []).extend(ids)
    return found


def counts(customer: Any) -> list[tuple[Section, int]]:
    return [(s, s.count(customer)) for s in sections()]


def export(customer: Any) -> list[tuple[Section, list[Row]]]:
    """Every section's rows, in the current language."""
    return [(s, s.export(customer)) for s in sections()]


def blockers(customer: Any) -> list[str]:
    return [
        message
        for s in sections()
        if s.blockers is not None
        for message in s.blockers(customer)
    ]


def retained(customer: Any) -> list[dict[str, Any]]:
    """What anonymising would keep, as data: [{"section", "reason", "count"}]."""
    kept = []
    for s in sections():
        if s.retained is None:
            continue
        for reason, number in s.retained(customer).items():
            if number:
                kept.append({"section": s.key, "reason": reason, "count": number})
    return kept


def describe(kept: Iterable[dict[str, Any]]) -> list[tuple[str, str, int]]:
    """(section title, reason, count) in the reader's language, for stored `retained`."""
    rows = []
    for item in kept:
        s = _SECTIONS.get(item.get("section", ""))
        if s is None:
            continue
        reason = s.reasons.get(item.get("reason", ""), item.get("reason", ""))
        rows.append((str(s.title), str(reason), int(item.get("count", 0))))
    return rows


def anonymise(customer: Any, *, erasure: Erasure) -> dict[str, int]:
    """Run every section's anonymiser in the caller's transaction; rows changed per
    section. Files are deleted after the commit."""
    changed: dict[str, int] = {}
    erasure.related = related_objects(customer)
    for s in sections():
        if s.anonymise is not None:
            changed[s.key] = s.anonymise(customer, erasure=erasure)
    files = list(erasure.files)

    def delete_files() -> None:
        for storage, name in files:
            storage.delete(name)

    transaction.on_commit(delete_files)
    return changed


# Rows ------------------------------------------------------------------------------


def _field_at(model: type[models.Model], lookup: str) -> models.Field | None:
    field_ = None
    for part in lookup.split("__"):
        try:
            field_ = model._meta.get_field(part)
        except FieldDoesNotExist:
            return None
        if field_.is_relation and field_.related_model is not None:
            model = field_.related_model
    return field_


def display(value: Any) -> Any:
    """A value as a reader and a spreadsheet want it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, datetime):
        return formats.date_format(timezone.localtime(value), "Y-m-d H:i")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return ", ".join(str(display(item)) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {display(v)}" for k, v in value.items())
    return value


def rows(queryset: QuerySet, columns: list[tuple[str, Any] | str]) -> list[Row]:
    """One .values() query: each column a lookup (its field's verbose name is the
    label) or (lookup, label); choice values are shown by their label, users by name."""
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    model = queryset.model
    spec: list[tuple[str, str, dict, bool]] = []
    fetch: list[str] = []
    for column in columns:
        lookup, label = (column, None) if isinstance(column, str) else column
        field_ = _field_at(model, lookup)
        if label is None:
            label = field_.verbose_name if field_ is not None else lookup
        is_user = field_ is not None and field_.related_model is user_model
        choices = (
            {k: str(v) for k, v in field_.flatchoices}
            if field_ is not None and field_.choices
            else {}
        )
        spec.append((lookup, str(label), choices, is_user))
        if is_user:
            fetch += [f"{lookup}__{part}" for part in USER_PARTS]
        else:
            fetch.append(lookup)
    result = []
    for values in queryset.values(*fetch):
        row: Row = {}
        for lookup, label, choices, is_user in spec:
            if is_user:
                last, first, username = (values[f"{lookup}__{p}"] for p in USER_PARTS)
                row[label] = f"{last or ''}{first or ''}".strip() or (username or "")
                continue
            value = values[lookup]
            row[label] = choices.get(value, display(value)) if choices else display(
                value
            )
        result.append(row)
    return result


USER_PARTS = ("last_name", "first_name", "username")


def user_label(user: Any) -> str:
    return user.display_name if user is not None else ""
