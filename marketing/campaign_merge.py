"""Campaigns' part of a customer merge: memberships and responses follow the
surviving customer (and go back on undo). A campaign the survivor is already a member
of keeps the absorbed customer's membership where it was."""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef

from customers.models import Customer, MergeRecord
from customers.signals import customer_merge_restored, customer_merged
from marketing.models import CampaignMember, Response

MEMBERS = "marketing.campaignmember"
RESPONSES = "marketing.response"


def on_customer_merged(
    sender: type[Customer],
    *,
    survivor: Customer,
    absorbed: Customer,
    record: MergeRecord,
    **kwargs: Any,
) -> dict[str, list[int]]:
    already = CampaignMember.objects.filter(
        campaign_id=OuterRef("campaign_id"), customer=survivor
    )
    members = sorted(
        CampaignMember.objects.filter(customer=absorbed)
        .exclude(Exists(already))
        .values_list("pk", flat=True)
    )
    if not members:
        return {}
    responses = sorted(
        Response.objects.filter(member_id__in=members).values_list("pk", flat=True)
    )
    CampaignMember.objects.filter(pk__in=members).update(customer=survivor)
    Response.objects.filter(pk__in=responses).update(customer=survivor)
    return {MEMBERS: members, RESPONSES: responses}


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
    for key, model in ((MEMBERS, CampaignMember), (RESPONSES, Response)):
        if moved.get(key):
            model.objects.filter(pk__in=moved[key]).update(customer=absorbed)
            back[key] = moved[key]
    return back


def connect() -> None:
    customer_merged.connect(
        on_customer_merged, sender=Customer, dispatch_uid="marketing.campaigns.merged"
    )
    customer_merge_restored.connect(
        on_customer_merge_restored,
        sender=Customer,
        dispatch_uid="marketing.campaigns.restored",
    )
