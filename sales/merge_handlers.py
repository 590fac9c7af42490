"""Sales' part of a customer merge: deals follow the surviving customer, and go back
on undo. Handles the customers app's signals in sales' own code."""

from __future__ import annotations

from typing import Any

from customers.models import Customer, MergeRecord
from customers.signals import customer_merge_restored, customer_merged
from sales.models import DealChange, Opportunity


def on_customer_merged(
    sender: type[Customer],
    *,
    survivor: Customer,
    absorbed: Customer,
    record: MergeRecord,
    **kwargs: Any,
) -> dict[str, list[int]]:
    moved: dict[str, list[int]] = {}
    deals = sorted(
        Opportunity.objects.filter(customer=absorbed).values_list("pk", flat=True)
    )
    if deals:
        Opportunity.objects.filter(pk__in=deals).update(customer=survivor)
        moved["sales.opportunity"] = deals
    changes = sorted(
        DealChange.objects.filter(new_customer=absorbed).values_list("pk", flat=True)
    )
    if changes:
        DealChange.objects.filter(pk__in=changes).update(new_customer=survivor)
        moved["sales.dealchange"] = changes
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
    if moved.get("sales.opportunity"):
        Opportunity.objects.filter(pk__in=moved["sales.opportunity"]).update(
            customer=absorbed
        )
        back["sales.opportunity"] = moved["sales.opportunity"]
    if moved.get("sales.dealchange"):
        DealChange.objects.filter(pk__in=moved["sales.dealchange"]).update(
            new_customer=absorbed
        )
        back["sales.dealchange"] = moved["sales.dealchange"]
    return back


def connect() -> None:
    customer_merged.connect(
        on_customer_merged, sender=Customer, dispatch_uid="sales.merge_handlers.merged"
    )
    customer_merge_restored.connect(
        on_customer_merge_restored,
        sender=Customer,
        dispatch_uid="sales.merge_handlers.restored",
    )
