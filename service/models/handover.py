"""Handover (交房): a batch per building, appointment slots, owners' appointments and the
notices that invite them, and the per-unit inspection whose defects become repairs."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm_site.outbox import OutboxMessage, outbox_indexes
from service.models.core import Category

# Rooms, what is checked in each and the repair category a defect there belongs to; a
# batch copies this as its own checklist template.
DEFAULT_CHECKLIST: list[dict[str, str]] = [
    {"room": "入户门", "item": "门锁与门框", "category": "doors_windows"},
    {"room": "客厅", "item": "墙面与天花", "category": "walls_floors"},
    {"room": "客厅", "item": "地面与踢脚线", "category": "walls_floors"},
    {"room": "客厅", "item": "开关与插座", "category": "electrical"},
    {"room": "厨房", "item": "给排水", "category": "plumbing"},
    {"room": "厨房", "item": "橱柜与台面", "category": "construction"},
    {"room": "卫生间", "item": "防水与地漏", "category": "plumbing"},
    {"room": "卫生间", "item": "洁具", "category": "plumbing"},
    {"room": "主卧", "item": "窗户与密封", "category": "doors_windows"},
    {"room": "阳台", "item": "栏杆与排水", "category": "construction"},
]


class HandoverBatch(models.Model):
    class Status(models.TextChoices):
        PLANNED = "planned", _("Planned")
        OPEN = "open", _("Handing over")
        CLOSED = "closed", _("Closed")

    building = models.ForeignKey(
        "sales.Building",
        on_delete=models.PROTECT,
        related_name="handover_batches",
        verbose_name=_("building"),
    )
    name = models.CharField(_("name"), max_length=100)
    starts_on = models.DateField(_("first day"))
    ends_on = models.DateField(_("last day"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PLANNED
    )
    # The default checklist of every inspection of this batch: [{"room", "item"}...].
    checklist = models.JSONField(_("checklist template"), default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("handover batch")
        verbose_name_plural = _("handover batches")
        indexes = [
            models.Index(fields=["-starts_on", "-id"], name="handover_batch_idx")
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__gte=models.F("starts_on")),
                name="handover_batch_dates",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("service:handover-detail", args=[self.pk])


class HandoverSlot(models.Model):
    """A time window on a day in which up to `capacity` units are handed over."""

    batch = models.ForeignKey(
        HandoverBatch,
        on_delete=models.CASCADE,
        related_name="slots",
        verbose_name=_("handover batch"),
    )
    day = models.DateField(_("day"))
    starts_at = models.TimeField(_("starts at"))
    ends_at = models.TimeField(_("ends at"))
    capacity = models.PositiveSmallIntegerField(_("capacity"))

    class Meta:
        verbose_name = _("appointment slot")
        verbose_name_plural = _("appointment slots")
        ordering = ["day", "starts_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["batch", "day", "starts_at"], name="handover_slot_unique"
            ),
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")),
                name="handover_slot_window",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day:%Y-%m-%d} {self.starts_at:%H:%M}–{self.ends_at:%H:%M}"


class HandoverAppointment(models.Model):
    """One sold unit of a batch: its owner, invited, booked into a slot, handed over."""

    class Status(models.TextChoices):
        INVITED = "invited", _("Invited")
        BOOKED = "booked", _("Booked")
        HANDED_OVER = "handed_over", _("Handed over")
        # The deal was cancelled (退房) or changed its buyer (更名) before the keys
        # were handed over: the unit is no longer this customer's to receive.
        CANCELLED = "cancelled", _("Cancelled")

    batch = models.ForeignKey(
        HandoverBatch, on_delete=models.CASCADE, related_name="appointments"
    )
    unit = models.ForeignKey(
        "sales.Unit",
        on_delete=models.PROTECT,
        related_name="handover_appointments",
        verbose_name=_("unit"),
    )
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.PROTECT,
        related_name="handover_appointments",
        verbose_name=_("owner"),
    )
    slot = models.ForeignKey(
        HandoverSlot,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="appointments",
        verbose_name=_("slot"),
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.INVITED
    )
    handed_over_on = models.DateField(_("handed over on"), null=True, blank=True)
    # Counts the bookings and moves: each confirmation carries the number it was
    # made for, so moving back to an earlier slot is a new confirmation.
    sequence = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("handover appointment")
        verbose_name_plural = _("handover appointments")
        constraints = [
            # A cancelled appointment leaves room for the unit's next buyer.
            models.UniqueConstraint(
                fields=["batch", "unit"],
                condition=~Q(status="cancelled"),
                name="handover_appointment_unit",
            ),
            # One live appointment per unit across the building's batches: a unit
            # invited by one batch stays with it (service.handover.batch_invite, under
            # the building's row lock); this backs the lock up, as unit_reserve's
            # index does.
            models.UniqueConstraint(
                fields=["unit"],
                condition=~Q(status="cancelled"),
                name="handover_appointment_live_unit",
            ),
        ]
        indexes = [
            models.Index(fields=["batch", "status"], name="handover_appt_status_idx"),
            models.Index(fields=["slot"], name="handover_appt_slot_idx"),
            models.Index(fields=["customer"], name="handover_appt_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.unit} · {self.customer}"

    def get_absolute_url(self) -> str:
        return reverse("service:handover-appointment", args=[self.pk])


class HandoverNotice(OutboxMessage):
    """An outbox row (crm_site.outbox): a message to an owner about their handover,
    sent once."""

    class Kind(models.TextChoices):
        INVITATION = "invitation", _("Invitation to book")
        CONFIRMATION = "confirmation", _("Appointment confirmed")

    appointment = models.ForeignKey(
        HandoverAppointment, on_delete=models.CASCADE, related_name="notices"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # The slot a confirmation is about: a rebooking is a new notice.
    slot = models.ForeignKey(
        HandoverSlot, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # The appointment's booking sequence it confirms (HandoverAppointment.sequence).
    sequence = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("handover notice")
        verbose_name_plural = _("handover notices")
        constraints = [
            models.UniqueConstraint(
                fields=["appointment", "kind"],
                condition=Q(slot__isnull=True),
                name="handover_notice_once",
            ),
            models.UniqueConstraint(
                fields=["appointment", "kind", "slot", "sequence"],
                name="handover_notice_once_per_slot",
            ),
        ]
        indexes = outbox_indexes("handover_notice")

    def __str__(self) -> str:
        return f"{self.appointment_id} {self.kind} {self.status}"


class Inspection(models.Model):
    """The walk through the unit with its owner on handover day."""

    appointment = models.OneToOneField(
        HandoverAppointment, on_delete=models.CASCADE, related_name="inspection"
    )
    inspector = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("inspection")
        verbose_name_plural = _("inspections")

    def __str__(self) -> str:
        return f"{_('Inspection')} {self.appointment}"


class InspectionItem(models.Model):
    class Result(models.TextChoices):
        UNCHECKED = "unchecked", _("Not checked")
        PASS = "pass", _("Pass")
        DEFECT = "defect", _("Defect")

    inspection = models.ForeignKey(
        Inspection, on_delete=models.CASCADE, related_name="items"
    )
    position = models.PositiveSmallIntegerField()
    room = models.CharField(_("room"), max_length=50)
    item = models.CharField(_("item"), max_length=100)
    # The repair category a defect here becomes (service.models.Category).
    category = models.CharField(
        _("category"), max_length=30, choices=Category.choices, default="construction"
    )
    result = models.CharField(
        _("result"), max_length=10, choices=Result.choices, default=Result.UNCHECKED
    )
    note = models.CharField(_("note"), max_length=300, blank=True)
    photo = models.FileField(_("photo"), upload_to="handover/%Y/%m/", blank=True)
    # The repair request this defect became; set once, so a second click adds nothing.
    repair_request = models.OneToOneField(
        "service.ServiceRequest",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="inspection_item",
    )

    class Meta:
        verbose_name = _("inspection item")
        verbose_name_plural = _("inspection items")
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(
                fields=["inspection", "position"], name="inspection_item_position"
            )
        ]

    def __str__(self) -> str:
        return f"{self.room} · {self.item}"

    def clean(self) -> None:
        if self.result == self.Result.DEFECT and not self.note.strip():
            raise ValidationError({"note": _("Describe the defect.")})
