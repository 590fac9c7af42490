"""One live handover appointment a unit, before 0024's unique index requires it.

Until 2026-11-27 (2262392) batch_invite invited the owner of a unit that an earlier
batch of its building had invited already: a database from before then can hold two
live appointments of one unit, and the index would fail the deploy. The unit keeps
one (handed over first, else booked, else the earliest invited); the others are
cancelled as service.handover._cancel cancels one: the status, the slot cleared (its
place is free again) and an audit entry by the system saying so. A cancelled
appointment's unsent notices are not sent (handover_notice_send checks it).

Going back leaves them cancelled: which were live is not needed by 0022's schema.
"""

from collections import defaultdict

from django.db import migrations
from django.db.models import Count

CANCELLED = "cancelled"
# Which appointment of a unit stays live: lower first, then the earliest.
KEPT_FIRST = {"handed_over": 0, "booked": 1, "invited": 2}


def _slot_label(slot) -> str:
    # HandoverSlot.__str__, which a migration's models do not have.
    return f"{slot.day:%Y-%m-%d} {slot.starts_at:%H:%M}–{slot.ends_at:%H:%M}"


def _appointment_label(appointment) -> str:
    # HandoverAppointment.__str__ (unit: project, building, number · owner).
    unit = appointment.unit
    building = unit.building
    return (
        f"{building.project.name} {building.name} {unit.number} · "
        f"{appointment.customer.name}"
    )[:200]


def keep_one_live_appointment_a_unit(apps, schema_editor):
    Appointment = apps.get_model("service", "HandoverAppointment")
    AuditEntry = apps.get_model("crm_site", "AuditEntry")
    ContentType = apps.get_model("contenttypes", "ContentType")
    live = Appointment.objects.exclude(status=CANCELLED)
    doubled = (
        live.values("unit_id")
        .annotate(live_count=Count("pk"))
        .filter(live_count__gt=1)
        .values("unit_id")
    )
    by_unit = defaultdict(list)
    for appointment in (
        live.filter(unit_id__in=doubled)
        .select_related("slot", "unit__building__project", "customer")
        .order_by("unit_id", "created_at", "pk")
    ):
        by_unit[appointment.unit_id].append(appointment)
    if not by_unit:
        return
    content_type, _created = ContentType.objects.get_or_create(
        app_label="service", model="handoverappointment"
    )
    cancelled, entries = [], []
    for appointments in by_unit.values():
        kept = min(
            appointments,
            key=lambda a: (
                KEPT_FIRST.get(a.status, len(KEPT_FIRST)),
                a.created_at,
                a.pk,
            ),
        )
        for appointment in appointments:
            if appointment.pk == kept.pk:
                continue
            changes = {"status": {"old": appointment.status, "new": CANCELLED}}
            if appointment.slot_id is not None:
                changes["slot"] = {"old": _slot_label(appointment.slot), "new": ""}
            entries.append(
                AuditEntry(
                    actor=None,
                    action="update",
                    content_type=content_type,
                    object_id=appointment.pk,
                    object_repr=_appointment_label(appointment),
                    changes=changes,
                )
            )
            appointment.status, appointment.slot = CANCELLED, None
            cancelled.append(appointment)
    Appointment.objects.bulk_update(cancelled, ["status", "slot"], batch_size=500)
    AuditEntry.objects.bulk_create(entries, batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("crm_site", "0021_outbox_handed_over"),
        ("service", "0022_handover_cancelled_and_sequence"),
    ]

    operations = [
        migrations.RunPython(
            keep_one_live_appointment_a_unit, migrations.RunPython.noop, elidable=True
        ),
    ]
