"""Service's fact tables for the explorer and the service insight page
(crm_site.insight): derived rows, never edited.

Like sales' deal fact they hold no foreign keys: a fact follows its live row through
the refresh and never holds up a delete or a merge of what it describes.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from service.models.core import Category, Department, ServiceRequest, Severity
from service.models.work import WorkOrder

REPEAT_CHOICES = [(True, _("Repeat")), (False, _("First in 90 days"))]
OVERDUE_CHOICES = [(True, _("Past its deadline")), (False, _("Within its deadline"))]
ANSWERED_CHOICES = [(True, _("Survey answered")), (False, _("No survey answer"))]
ON_TIME_CHOICES = [(True, _("Signed off on time")), (False, _("Signed off late"))]


class RequestFact(models.Model):
    """One row per service request: what, where, who worked it, how long it took, what
    it cost and how the owner rated it. Kept by service.insight.REQUESTS."""

    request_id = models.BigIntegerField(primary_key=True)
    customer_id = models.BigIntegerField()
    # The accountable first receiver: agents who only record requests count theirs.
    receiver_id = models.BigIntegerField(null=True)
    kind = models.CharField(max_length=20, choices=ServiceRequest.Kind.choices)
    category = models.CharField(max_length=30, choices=Category.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    channel = models.CharField(max_length=20, choices=ServiceRequest.Channel.choices)
    project_id = models.BigIntegerField(null=True)
    building_id = models.BigIntegerField(null=True)
    unit_id = models.BigIntegerField(null=True)
    # The department it was handed to, and the contractor of its latest work order
    # handed to a contractor (not cancelled).
    department = models.CharField(max_length=20, choices=Department.choices, blank=True)
    contractor_id = models.BigIntegerField(null=True)
    status = models.CharField(max_length=20, choices=ServiceRequest.Status.choices)
    opened_month = models.DateField()
    opened_on = models.DateField()
    closed_on = models.DateField(null=True)
    hours_to_close = models.DecimalField(max_digits=9, decimal_places=1, null=True)
    # Resolved after its deadline, or still being worked past it (the escalation
    # sweep marks requests whose deadline just passed: service.insight).
    overdue = models.BooleanField(choices=OVERDUE_CHOICES)
    # What its work orders (not cancelled) cost; what was charged back to contractors
    # for defects reported in it; the difference.
    cost = models.DecimalField(max_digits=14, decimal_places=2)
    chargebacks = models.DecimalField(max_digits=14, decimal_places=2)
    net_cost = models.DecimalField(max_digits=14, decimal_places=2)
    work_orders = models.PositiveIntegerField()
    # The satisfaction index (0–100) of its survey, when the owner answered.
    satisfaction = models.DecimalField(max_digits=5, decimal_places=2, null=True)
    answered = models.BooleanField(choices=ANSWERED_CHOICES)
    # The unit had another request of the same category in the 90 days before.
    repeat = models.BooleanField(choices=REPEAT_CHOICES)

    class Meta:
        verbose_name = _("service request fact")
        indexes = [
            models.Index(fields=["opened_month", "category"], name="requestfact_month"),
            models.Index(
                fields=["project_id", "opened_month"], name="requestfact_project"
            ),
            models.Index(
                fields=["unit_id", "opened_month"],
                condition=Q(unit_id__isnull=False),
                name="requestfact_unit",
            ),
            models.Index(
                fields=["contractor_id", "opened_month"],
                name="requestfact_contractor",
            ),
            models.Index(fields=["receiver_id"], name="requestfact_receiver"),
        ]

    def __str__(self) -> str:
        return f"request {self.request_id}"


class WorkOrderFact(models.Model):
    """One row per work order that was not cancelled: who did it, for what, for how
    much, what was charged back for it, and how the owner rated the request. Kept by
    service.insight.WORK_ORDERS."""

    work_order_id = models.BigIntegerField(primary_key=True)
    request_id = models.BigIntegerField()
    category = models.CharField(max_length=30, choices=Category.choices)
    project_id = models.BigIntegerField(null=True)
    building_id = models.BigIntegerField(null=True)
    assignee_kind = models.CharField(max_length=20, choices=WorkOrder.Assignee.choices)
    department = models.CharField(max_length=20, choices=Department.choices, blank=True)
    contractor_id = models.BigIntegerField(null=True)
    status = models.CharField(max_length=20, choices=WorkOrder.Status.choices)
    created_month = models.DateField()
    # The month its request was opened: the insight page's period.
    request_month = models.DateField()
    signed_off_on = models.DateField(null=True)
    on_time = models.BooleanField(null=True, choices=ON_TIME_CHOICES)
    cost = models.DecimalField(max_digits=14, decimal_places=2)
    # Charged back to the contractor for defects in this work.
    chargebacks = models.DecimalField(max_digits=14, decimal_places=2)
    satisfaction = models.DecimalField(max_digits=5, decimal_places=2, null=True)
    answered = models.BooleanField(choices=ANSWERED_CHOICES)

    class Meta:
        verbose_name = _("work order fact")
        indexes = [
            models.Index(
                fields=["contractor_id", "request_month"],
                name="workorderfact_contractor",
            ),
            models.Index(
                fields=["request_month", "category"], name="workorderfact_month"
            ),
            models.Index(fields=["request_id"], name="workorderfact_request"),
        ]

    def __str__(self) -> str:
        return f"work order {self.work_order_id}"
