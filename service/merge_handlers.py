"""Service's part of a customer merge: requests, handover appointments and surveys
follow the surviving customer, and go back on undo."""

from __future__ import annotations

from typing import Any

from django.db import models

from customers.models import Customer, MergeRecord
from customers.signals import customer_merge_restored, customer_merged
from service.models import (
    HandoverAppointment,
    ServiceRequest,
    SurveyInvitation,
    SurveyResponse,
)

KEY = "service.servicerequest"
# What moves with the customer, under the key recorded in the merge record.
MOVED: dict[str, type[models.Model]] = {
    KEY: ServiceRequest,
    "service.handoverappointment": HandoverAppointment,
    "service.surveyinvitation": SurveyInvitation,
    "service.surveyresponse": SurveyResponse,
}


def on_customer_merged(
    sender: type[Customer],
    *,
    survivor: Customer,
    absorbed: Customer,
    record: MergeRecord,
    **kwargs: Any,
) -> dict[str, list[int]]:
    moved: dict[str, list[int]] = {}
    for key, model in MOVED.items():
        ids = sorted(
            model.objects.filter(customer=absorbed).values_list("pk", flat=True)
        )
        if ids:
            model.objects.filter(pk__in=ids).update(customer=survivor)
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
    back: dict[str, list[int]] = {}
    for key, model in MOVED.items():
        ids = moved.get(key, [])
        if ids:
            model.objects.filter(pk__in=ids).update(customer=absorbed)
            back[key] = ids
    return back


def connect() -> None:
    customer_merged.connect(
        on_customer_merged, sender=Customer, dispatch_uid="service.merge.merged"
    )
    customer_merge_restored.connect(
        on_customer_merge_restored,
        sender=Customer,
        dispatch_uid="service.merge.restored",
    )
