"""Work orders: the concrete jobs a request is handed out as, to a department, an
internal crew or an outside contractor; contractors and the chargebacks recovered from
them for defects within their warranty."""

from __future__ import annotations

import calendar
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from service.models.core import Department, ServiceRequest


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` later (the month's last day when it is shorter)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


class Contractor(models.Model):
    """An outside firm the service desk hands repairs to."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    trade = models.CharField(_("trade"), max_length=50)
    contact_name = models.CharField(_("contact person"), max_length=50, blank=True)
    phone = models.CharField(_("phone"), max_length=30, blank=True)
    warranty_months = models.PositiveSmallIntegerField(
        _("warranty (months)"), default=24
    )
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("contractor")
        verbose_name_plural = _("contractors")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} · {self.trade}"

    def get_absolute_url(self) -> str:
        return reverse("service:contractor-detail", args=[self.pk])


class WorkOrder(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        SCHEDULED = "scheduled", _("Scheduled")
        DONE = "done", _("Signed off")
        CANCELLED = "cancelled", _("Cancelled")

    class Assignee(models.TextChoices):
        DEPARTMENT = "department", _("Department")
        CREW = "crew", _("Internal crew")
        CONTRACTOR = "contractor", _("Contractor")

    TRANSITIONS: dict[str, set[str]] = {
        Status.OPEN: {Status.SCHEDULED, Status.CANCELLED},
        Status.SCHEDULED: {Status.SCHEDULED, Status.DONE, Status.CANCELLED},
        Status.DONE: set(),
        Status.CANCELLED: set(),
    }
    PENDING = (Status.OPEN, Status.SCHEDULED)

    request = models.ForeignKey(
        ServiceRequest,
        on_delete=models.CASCADE,
        related_name="work_orders",
        verbose_name=_("service request"),
    )
    task = models.CharField(_("task"), max_length=300)
    assignee_kind = models.CharField(
        _("assign to"), max_length=20, choices=Assignee.choices
    )
    department = models.CharField(
        _("department"), max_length=20, choices=Department.choices, blank=True
    )
    crew = models.CharField(_("crew"), max_length=100, blank=True)
    contractor = models.ForeignKey(
        Contractor,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="work_orders",
        verbose_name=_("contractor"),
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.OPEN
    )
    appointment_at = models.DateTimeField(_("appointment"), null=True, blank=True)
    # The work must be signed off by then; it starts as the request's resolution due.
    due_at = models.DateTimeField(_("finish by"))
    cost = models.DecimalField(
        _("cost (CNY)"),
        max_digits=12,
        decimal_places=2,
        default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(default=timezone.now)
    signed_off_at = models.DateTimeField(_("signed off"), null=True, blank=True)
    signed_off_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    signoff_note = models.CharField(_("sign-off note"), max_length=300, blank=True)
    signoff_photo = models.FileField(
        _("sign-off photo"), upload_to="work_orders/%Y/%m/", blank=True
    )
    cancel_reason = models.CharField(_("reason"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("work order")
        verbose_name_plural = _("work orders")
        indexes = [
            models.Index(
                fields=["request", "created_at"], name="work_order_request_idx"
            ),
            models.Index(
                fields=["contractor", "status"], name="work_order_contractor_idx"
            ),
            models.Index(
                fields=["appointment_at"],
                condition=Q(status__in=["open", "scheduled"]),
                name="work_order_pending_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(assignee_kind="contractor", contractor__isnull=False)
                    | Q(assignee_kind="department", contractor__isnull=True)
                    & ~Q(department="")
                    | Q(assignee_kind="crew", contractor__isnull=True) & ~Q(crew="")
                ),
                name="work_order_one_assignee",
            ),
        ]

    def __str__(self) -> str:
        return f"WO{self.pk} · {self.task[:40]}"

    def get_absolute_url(self) -> str:
        return f"{self.request.get_absolute_url()}#work-order-{self.pk}"

    @property
    def assignee_label(self) -> str:
        if self.assignee_kind == self.Assignee.CONTRACTOR and self.contractor_id:
            return self.contractor.name
        if self.assignee_kind == self.Assignee.CREW:
            return self.crew
        return str(self.get_department_display())

    @property
    def is_pending(self) -> bool:
        return self.status in self.PENDING

    @property
    def on_time(self) -> bool | None:
        if self.signed_off_at is None:
            return None
        return self.signed_off_at <= self.due_at

    def move_to(self, status: str) -> bool:
        """Refuse illegal moves; a repeated move (other than rescheduling) does nothing."""
        if status == self.status and status != self.Status.SCHEDULED:
            return False
        if status not in self.TRANSITIONS[self.status]:
            raise ValidationError(
                _("A work order cannot go from %(old)s to %(new)s.")
                % {"old": self.get_status_display(), "new": self.Status(status).label}
            )
        self.status = status
        return True

    move_to.alters_data = True


class Chargeback(models.Model):
    """Money a contractor owes back for a defect in its work found within warranty."""

    class Status(models.TextChoices):
        DUE = "due", _("Due")
        RECOVERED = "recovered", _("Recovered")

    contractor = models.ForeignKey(
        Contractor,
        on_delete=models.PROTECT,
        related_name="chargebacks",
        verbose_name=_("contractor"),
    )
    work_order = models.ForeignKey(
        WorkOrder,
        on_delete=models.PROTECT,
        related_name="chargebacks",
        verbose_name=_("defective work"),
    )
    # Where the defect was reported: the work's own request (reopened) or a later one.
    request = models.ForeignKey(
        ServiceRequest,
        on_delete=models.PROTECT,
        related_name="chargebacks",
        verbose_name=_("defect reported in"),
    )
    amount = models.DecimalField(
        _("amount (CNY)"),
        max_digits=12,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01"))],
    )
    reason = models.CharField(_("reason"), max_length=300)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.DUE
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    recovered_at = models.DateTimeField(_("recovered"), null=True, blank=True)

    class Meta:
        verbose_name = _("chargeback")
        verbose_name_plural = _("chargebacks")
        indexes = [
            models.Index(
                fields=["contractor", "-created_at"], name="chargeback_contractor_idx"
            )
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["work_order", "request"], name="chargeback_once_per_defect"
            )
        ]

    def __str__(self) -> str:
        return f"{self.contractor.name} · {self.amount}"
