"""Writing and reading the audit trail shared by every app."""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import QuerySet

from crm_site.models import AuditEntry, User


def _displayable(instance: models.Model, field: models.Field) -> str:
    # Choice fields keep their stored value, shown in the reader's language later.
    value = getattr(instance, field.name)
    if value is None or value == "":
        return ""
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


def audit_entries_for(instance: models.Model) -> QuerySet[AuditEntry]:
    return (
        AuditEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(instance),
            object_id=instance.pk,
        )
        .select_related("actor", "content_type")
        .order_by("-created_at", "-pk")
    )
