"""Service's part of a customer merge: requests follow the surviving customer."""

from __future__ import annotations

from typing import Any

from customers.models import Customer, MergeRecord
from customers.signals import customer_merge_restored, customer_merged
from service.models import ServiceRequest

KEY = "service.servicerequest"


def on_customer_merged(
    sender: type[Customer],
    *,
    survivor: Customer,
    absorbed: Customer,
    record: MergeRecord,
    **kwargs: Any,
) -> dict[str, list[int]]:
    ids = sorted(
        ServiceRequest.objects.filter(customer=absorbed).values_list("pk", flat=True)
    )
    if not ids:
        return {}
    ServiceRequest.objects.filter(pk__in=ids).update(customer=survivor)
    return {KEY: ids}


def on_customer_merge_restored(
    sender: type[Customer],
    *,
    survivor: Customer,
    absorbed: Customer,
    record: MergeRecord,
    moved: dict[str, list[int]],
    **kwargs: Any,
) -> dict[str, list[int]]:
    ids = moved.get(KEY, [])
    if ids:
        ServiceRequest.objects.filter(pk__in=ids).update(customer=absorbed)
    return {KEY: ids} if ids else {}


def connect() -> None:
    customer_merged.connect(
        on_customer_merged, sender=Customer, dispatch_uid="service.merge.merged"
    )
    customer_merge_restored.connect(
        on_customer_merge_restored,
        sender=Customer,
        dispatch_uid="service.merge.restored",
    )
