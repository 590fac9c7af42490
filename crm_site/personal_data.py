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

Who else is linked to a customer (whose timelines may hold their number) is the apps'
knowledge too: an app registers ``register_relatives(fn)`` and customers reads
``relatives(ids)`` (sales: the buyers and co-buyers of their deals).
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
from django.db.models import Q, QuerySet
from django.utils import formats, timezone
from django.utils.translation import gettext as _

Row = dict[str, Any]

# Stands for a value that must no longer be shown (an old value in the audit trail).
HIDDEN = "***"


@dataclass
class Erasure:
    """What every anonymiser of one request shares: who, when, the replacement name,
    the customer's identifying texts (to scrub from free text written about them) and
    the files to delete once the transaction has committed."""

    actor: Any
    at: datetime
    # The customer's name before (a contract keeps it) and the neutral one after.
    name: str
    label: str
    texts: list[str]
    # The customer's fields whose old values audit entries must no longer show.
    fields: set[str] = field(default_factory=set)
    files: list[tuple[Any, str]] = field(default_factory=list)

    def scrub(self, text: str) -> str:
        """The text with every identifying string of the customer replaced."""
        for value in self.texts:
            if value and value in text:
                text = text.replace(value, self.label)
        return text

    def scrub_keys(self, text: str) -> str:
        """The text with only what identifies the person alone replaced (their
        numbers, e-mail...), not a name someone else may share: for text written on
        other people's records. An erasure that knows only texts knows none."""
        return text

    def scrub_json(self, value: Any, scrub: Callable[[str], str] | None = None) -> Any:
        """A JSON value (an event's parameters) with every string in it scrubbed,
        however deep: a nested entry (why a request moved) has parameters too."""
        scrub = scrub or self.scrub
        if isinstance(value, str):
            return scrub(value)
        if isinstance(value, dict):
            return {key: self.scrub_json(item, scrub) for key, item in value.items()}
        if isinstance(value, list):
            return [self.scrub_json(item, scrub) for item in value]
        return value

    def audit(
        self, model: type[models.Model], ids: Iterable[int], fields: list[str]
    ) -> None:
        """One entry per row saying which of its fields (or related rows: "steps")
        the anonymisation changed, the old values hidden."""
        self._audit(model, ids, fields)

    def update(
        self, queryset: models.QuerySet, *, filled: bool = False, **values: Any
    ) -> int:
        """Blank (or fill) fields of another app's rows (a deal, a request) and write
        one audit entry per row saying which, the personal values hidden. An
        audited_update entry would keep the old values: this is its own entry."""
        from crm_site.audit import unaudited

        ids = list(queryset.values_list("pk", flat=True))
        self._audit(queryset.model, ids, list(values), filled=filled)
        with unaudited("anonymisation records its own entries without the old values"):
            return queryset.model._base_manager.filter(pk__in=ids).update(**values)

    def _audit(
        self,
        model: type[models.Model],
        ids: Iterable[int],
        fields: list[str],
        *,
        filled: bool = False,
    ) -> None:
        change = {"old": "", "new": HIDDEN} if filled else {"old": HIDDEN, "new": ""}
        from django.contrib.contenttypes.models import ContentType

        from crm_site.models import AuditEntry

        content_type = ContentType.objects.get_for_model(model)
        label = str(model._meta.verbose_name)
        AuditEntry.objects.bulk_create(
            AuditEntry(
                actor=self.actor,
                action=AuditEntry.Action.ANONYMISE,
                content_type=content_type,
                object_id=pk,
                object_repr=f"{label} #{pk}"[:200],
                changes={name: dict(change) for name in fields},
                created_at=self.at,
            )
            for pk in sorted(set(ids))
        )

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


# Relatives -------------------------------------------------------------------------

_RELATIVES: list[Callable[[list[int]], Iterable[int]]] = []


def register_relatives(fn: Callable[[list[int]], Iterable[int]]) -> None:
    """fn(customer_ids) -> the ids of the customers linked to any of them by the app's
    records (they may include the given ones). One or two statements, whatever the
    number of rows: it runs inside the anonymisation."""
    if fn not in _RELATIVES:
        _RELATIVES.append(fn)


def relatives(customer_ids: Iterable[int]) -> set[int]:
    """The customers the apps link to any of these (the given ones may be among them)."""
    ids = list(customer_ids)
    found: set[int] = set()
    for fn in _RELATIVES:
        found.update(fn(ids))
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
            row[label] = (
                choices.get(value, display(value)) if choices else display(value)
            )
        result.append(row)
    return result


USER_PARTS = ("last_name", "first_name", "username")


def user_label(user: Any) -> str:
    return user.display_name if user is not None else ""


# crm_site's own sections: the audit trail and notifications about the customer -----


def _audit_entries(customer: Any) -> QuerySet:
    from django.contrib.contenttypes.models import ContentType
    from django.db.models import Q

    from crm_site.models import AuditEntry

    where = Q(pk__in=[])
    for label, ids in related_objects(customer).items():
        if ids:
            content_type = ContentType.objects.get_for_model(apps.get_model(label))
            where |= Q(content_type=content_type, object_id__in=ids)
    return AuditEntry.objects.filter(where)


def _audit_export(customer: Any) -> list[Row]:
    entries = _audit_entries(customer).select_related("actor", "content_type")
    result = []
    for entry in entries.order_by("created_at", "pk"):
        model = entry.content_type.model_class()
        result.append(
            {
                _("when"): display(entry.created_at),
                _("by"): user_label(entry.actor),
                _("action"): entry.get_action_display(),
                _("record"): str(model._meta.verbose_name) if model else "",
                _("record number"): entry.object_id,
                _("description"): entry.object_repr,
                _("changes"): "; ".join(
                    f"{label}: {old} → {new}"
                    for label, old, new in entry.readable_changes()
                ),
            }
        )
    return result


def _scrub_value(value: Any, erasure: Erasure) -> Any:
    return erasure.scrub(value) if isinstance(value, str) else value


def _audit_anonymise(customer: Any, *, erasure: Erasure) -> int:
    """Old values of the customer's personal fields, and their identifying texts in
    any entry about them, are hidden; who changed what and when stays."""
    personal = erasure.fields
    customer_model = apps.get_model("customers", "Customer")
    changed = []
    for entry in _audit_entries(customer).select_related("content_type"):
        is_customer = entry.content_type.model_class() is customer_model
        before = (entry.object_repr, entry.changes)
        entry.object_repr = (
            erasure.label if is_customer else erasure.scrub(entry.object_repr)
        )[:200]
        changes = {}
        for name, change in (entry.changes or {}).items():
            if not isinstance(change, dict):
                changes[name] = _scrub_value(change, erasure)
                continue
            if is_customer and name in personal:
                changes[name] = {
                    side: HIDDEN if value not in ("", None) else value
                    for side, value in change.items()
                }
            else:
                changes[name] = {
                    side: _scrub_value(value, erasure) for side, value in change.items()
                }
        entry.changes = changes
        if (entry.object_repr, entry.changes) != before:
            changed.append(entry)
    from crm_site.models import AuditEntry

    AuditEntry.objects.bulk_update(changed, ["object_repr", "changes"], batch_size=500)
    return len(changed)


def _notification_urls(customer: Any) -> list[str]:
    from django.contrib.contenttypes.models import ContentType

    from crm_site import links

    urls = []
    for label, ids in related_objects(customer).items():
        content_type = ContentType.objects.get_for_model(apps.get_model(label))
        for pk in ids:
            url = links.url_for(content_type, pk)
            if url:
                urls.append(url)
    return urls


def _notifications(customer: Any) -> QuerySet:
    # Notifications about the customer link to their page or to one of their deals,
    # requests...; one without a link (its reader may not open the customer) names
    # them among its params' ids (crm_site.notifications.ABOUT_KEY). Neither has an
    # index, which is fine for a rare administrator task.
    from crm_site.models import Notification
    from crm_site.notifications import ABOUT_KEY

    return Notification.objects.filter(
        Q(url__in=_notification_urls(customer))
        | Q(params__contains={ABOUT_KEY: [customer.pk]})
    )


def _notifications_export(customer: Any) -> list[Row]:
    from crm_site import events

    notifications = _notifications(customer).order_by("created_at", "pk")
    result = rows(
        notifications,
        [
            ("user", _("to")),
            ("message", _("message")),
            ("created_at", _("when")),
        ],
    )
    # An event's words, as the reader would see them.
    label = str(_("message"))
    texts = notifications.values_list("event", "params", "message")
    for row, (event, params, message) in zip(result, texts, strict=True):
        row[label] = events.text_of(event, params, message)
    return result


def _notifications_anonymise(customer: Any, *, erasure: Erasure) -> int:
    from crm_site.models import Notification

    changed = []
    for notification in _notifications(customer):
        message = erasure.scrub(notification.message)[:300]
        params = erasure.scrub_json(notification.params)
        if message != notification.message or params != notification.params:
            notification.message = message
            notification.params = params
            changed.append(notification)
    Notification.objects.bulk_update(changed, ["message", "params"], batch_size=500)
    return len(changed)


def connect() -> None:
    from django.utils.translation import gettext_lazy

    register(
        Section(
            key="crm_site.audit",
            title=gettext_lazy("Audit trail"),
            order=90,
            count=lambda c: _audit_entries(c).count(),
            export=_audit_export,
            anonymise=_audit_anonymise,
            retained=lambda c: {"audit": _audit_entries(c).count()},
            reasons={
                "audit": gettext_lazy(
                    "Who changed what and when, with the old personal values "
                    "hidden: the record of how the data was handled."
                )
            },
        )
    )
    register(
        Section(
            key="crm_site.notifications",
            title=gettext_lazy("Notifications to staff"),
            order=91,
            count=lambda c: _notifications(c).count(),
            export=_notifications_export,
            anonymise=_notifications_anonymise,
        )
    )
