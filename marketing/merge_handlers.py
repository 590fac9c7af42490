"""Marketing's part of a customer merge: referrals and partner registrations follow the
surviving customer, and come back on undo."""

from __future__ import annotations

from typing import Any

from customers.models import Customer, MergeRecord
from customers.signals import customer_merge_restored, customer_merged
from marketing.models import PartnerRegistration, Referral

# (key in the merge record, model, customer field)
MOVES = [
    ("marketing.referral.referrer", Referral, "referrer"),
    ("marketing.referral.friend", Referral, "friend"),
    ("marketing.partnerregistration", PartnerRegistration, "customer"),
]


def on_customer_merged(
    sender: type[Customer],
    *,
    survivor: Customer,
    absorbed: Customer,
    record: MergeRecord,
    **kwargs: Any,
) -> dict[str, list[int]]:
    moved: dict[str, list[int]] = {}
    for key, model, field in MOVES:
        if field == "friend" and Referral.objects.filter(friend=survivor).exists():
            # A friend is referred once: the survivor's own referral stands.
            continue
        ids = sorted(
            model.objects.filter(**{field: absorbed}).values_list("pk", flat=True)
        )
        if ids:
            model.objects.filter(pk__in=ids).update(**{field: survivor})
            moved[key] = ids
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
    restored: dict[str, list[int]] = {}
    for key, model, field in MOVES:
        ids = moved.get(key, [])
        if ids:
            model.objects.filter(pk__in=ids).update(**{field: absorbed})
            restored[key] = ids
    return restored


def connect() -> None:
    customer_merged.connect(
        on_customer_merged, sender=Customer, dispatch_uid="marketing.merge.merged"
    )
    customer_merge_restored.connect(
        on_customer_merge_restored,
        sender=Customer,
        dispatch_uid="marketing.merge.restored",
    )
