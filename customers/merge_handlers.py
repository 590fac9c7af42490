"""The customers app's own part of a merge: its rows follow the surviving customer.

Like every app, customers handles customer_merged / customer_merge_restored in its own
module; the merge service knows no app's tables but through these signals.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, Model, OuterRef, Q, QuerySet

from customers.models import (
    ConsentRecord,
    ContactPoint,
    Customer,
    ImportChange,
    Interaction,
    MergeRecord,
)
from customers.signals import customer_merge_restored, customer_merged

# Rows that simply change hands: each has a `customer` foreign key and no uniqueness.
MOVED_MODELS: list[type[Model]] = [Interaction, ConsentRecord, ImportChange]


def _key(model: type[Model]) -> str:
    return model._meta.label_lower


def _move(qs: QuerySet, *, to: Customer) -> list[int]:
    ids = sorted(qs.values_list("pk", flat=True))
    if ids:
        qs.model._default_manager.filter(pk__in=ids).update(customer=to)
    return ids


def on_customer_merged(
    sender: type[Customer],
    *,
    survivor: Customer,
    absorbed: Customer,
    record: MergeRecord,
    **kwargs: Any,
) -> dict[str, list[int]]:
    moved: dict[str, list[int]] = {}
    for model in MOVED_MODELS:
        ids = _move(model._default_manager.filter(customer=absorbed), to=survivor)
        if ids:
            moved[_key(model)] = ids
    # A contact the survivor already has stays on the absorbed record (unique per
    # customer); nothing is lost, and a restore finds it where it was.
    twins = ContactPoint.objects.filter(
        customer=survivor, kind=OuterRef("kind"), value=OuterRef("value")
    )
    points = ContactPoint.objects.filter(customer=absorbed).exclude(
        Exists(twins) | Q(kind__in=ContactPoint.PHONE_KINDS, value=survivor.mobile)
    )
    ids = _move(points, to=survivor)
    if ids:
        moved[_key(ContactPoint)] = ids
    return moved


def on_customer_merge_restored(
    sender: type[Customer],
    *,
    survivor: Customer,
    absorbed: Customer,
    record: MergeRecord,
    moved: dict[str, list[int]],
    **kwargs: Any,
) -> dict[str, list[int]]:
    back: dict[str, list[int]] = {}
    for model in [*MOVED_MODELS, ContactPoint]:
        ids = moved.get(_key(model), [])
        if ids:
            back[_key(model)] = _move(
                model._default_manager.filter(pk__in=ids), to=absorbed
            )
    return back


def connect() -> None:
    """Called from CustomersConfig.ready(); dispatch_uid makes repeating it harmless."""
    customer_merged.connect(
        on_customer_merged,
        sender=Customer,
        dispatch_uid="customers.merge_handlers.on_customer_merged",
    )
    customer_merge_restored.connect(
        on_customer_merge_restored,
        sender=Customer,
        dispatch_uid="customers.merge_handlers.on_customer_merge_restored",
    )
