"""Writing and reading the audit trail shared by every app."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.db.models import QuerySet
from django.utils import timezone

from crm_site.models import AuditEntry, User


def _displayable(instance: models.Model, field: models.Field) -> str:
    # Choice fields keep their stored value, shown in the reader's language later.
    value = getattr(instance, field.name)
    if value is None or value == "":
        return ""
    if isinstance(value, datetime) and timezone.is_aware(value):
        # A row read back holds UTC, a form's value the reader's zone: one moment
        # must read the same either way, or saving a form unchanged is a change.
        value = value.astimezone(UTC)
    return str(value)


def snapshot(instance: models.Model, fields: list[str]) -> dict[str, str]:
    """The displayable values of the given fields, to diff against later."""
    meta = instance._meta
    return {name: _displayable(instance, meta.get_field(name)) for name in fields}


def diff(instance: models.Model, before: dict[str, str]) -> dict[str, dict[str, Any]]:
    """What changed since `before` (a snapshot): {field: {"old": ..., "new": ...}}."""
    after = snapshot(instance, list(before))
    return {
        name: {"old": before[name], "new": after[name]}
        for name in before
        if before[name] != after[name]
    }


def audit_record(
    *,
    actor: User | None,
    instance: models.Model,
    action: str,
    changes: dict[str, dict[str, Any]] | None = None,
) -> AuditEntry:
    return AuditEntry.objects.create(
        actor=actor,
        action=action,
        content_type=ContentType.objects.get_for_model(instance),
        object_id=instance.pk,
        object_repr=str(instance)[:200],
        changes=changes or {},
    )


def audit_created(
    *, actor: User | None, rows: list[models.Model], fields: list[str]
) -> None:
    """One creation entry per row of ``rows`` (one model, just created in bulk) with
    the values of ``fields``, as audit_record would write them, in one statement."""
    if not rows:
        return
    content_type = ContentType.objects.get_for_model(rows[0])
    AuditEntry.objects.bulk_create(
        AuditEntry(
            actor=actor,
            action=AuditEntry.Action.CREATE,
            content_type=content_type,
            object_id=row.pk,
            object_repr=str(row)[:200],
            changes={
                name: {"old": "", "new": value}
                for name, value in snapshot(row, fields).items()
            },
        )
        for row in rows
    )


def audit_change(
    *, actor: User | None, instance: models.Model, before: dict[str, str]
) -> AuditEntry | None:
    """Record what changed since ``before`` (a snapshot); nothing when nothing did."""
    changes = diff(instance, before)
    if not changes:
        return None
    return audit_record(
        actor=actor, instance=instance, action=AuditEntry.Action.UPDATE, changes=changes
    )


def audit_entries_for(instance: models.Model) -> QuerySet[AuditEntry]:
    return (
        AuditEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(instance),
            object_id=instance.pk,
        )
        .select_related("actor", "content_type")
        .order_by("-created_at", "-pk")
    )


# Set while audited_update (or an exemption) runs: AuditedQuerySet.update() then lets
# the audited fields through.
_bulk_audited: ContextVar[bool] = ContextVar("bulk_audited", default=False)


class UnauditedChange(RuntimeError):
    """A bulk update of audited fields that would leave no audit trail."""


class AuditedQuerySet(QuerySet):
    """QuerySet of a model whose changes must be audited (customers, deals, requests).

    The model lists its business facts in ``AUDITED_FIELDS``. A plain ``update()`` of
    any of them is refused: bulk changes go through ``audited_update``, which records
    one audit entry per changed row. Derived fields (last contact, search columns,
    counters) update freely.
    """

    def update(self, **kwargs: Any) -> int:
        meta = self.model._meta
        audited = {meta.get_field(name).name for name in kwargs} & set(
            self.model.AUDITED_FIELDS
        )
        if audited and not _bulk_audited.get():
            raise UnauditedChange(
                f"{self.model.__name__}.objects.update() of {sorted(audited)} leaves "
                "no audit entry; use crm_site.audit.audited_update()."
            )
        return super().update(**kwargs)


@contextmanager
def _bulk_allowed() -> Iterator[None]:
    token = _bulk_audited.set(True)
    try:
        yield
    finally:
        _bulk_audited.reset(token)


@contextmanager
def unaudited(reason: str) -> Iterator[None]:
    """Let bulk updates through without entries, for data that is not a business
    change (demo data back-dating its own history). ``reason`` documents why."""
    if not reason:
        raise ValueError("say why the change needs no audit entry")
    with _bulk_allowed():
        yield


def audited_update(
    queryset: QuerySet,
    *,
    actor: User | None,
    action: str = "update",
    when: datetime | None = None,
    **values: Any,
) -> int:
    """Update the rows of ``queryset`` and record, per row, what changed.

    Four statements whatever the number of rows: read the rows (locked), update them,
    read them again (the new values, expressions included), insert the entries. Rows
    where nothing changed get no entry.
    """
    model = queryset.model
    names = [model._meta.get_field(name).name for name in values]
    fields = [name for name in names if name in model.AUDITED_FIELDS]
    related = [name for name in fields if model._meta.get_field(name).is_relation]
    with transaction.atomic():
        rows = list(
            queryset.select_for_update(of=("self",)).select_related(*related)
            if related
            else queryset.select_for_update()
        )
        if not rows:
            return 0
        before = {row.pk: snapshot(row, fields) for row in rows}
        pks = list(before)
        with _bulk_allowed():
            count = model._base_manager.filter(pk__in=pks).update(**values)
        after = model._base_manager.filter(pk__in=pks)
        if related:
            after = after.select_related(*related)
        content_type = ContentType.objects.get_for_model(model)
        entries = []
        for row in after:
            changes = {
                name: {"old": before[row.pk][name], "new": new}
                for name, new in snapshot(row, fields).items()
                if before[row.pk][name] != new
            }
            if changes:
                entries.append(
                    AuditEntry(
                        actor=actor,
                        action=action,
                        content_type=content_type,
                        object_id=row.pk,
                        object_repr=str(row)[:200],
                        changes=changes,
                        created_at=when or timezone.now(),
                    )
                )
        AuditEntry.objects.bulk_create(entries, batch_size=1000)
    return count
