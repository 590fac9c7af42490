"""Handover (交房) use cases: plan a batch, open slots, invite the owners, book them,
inspect each unit, turn its defects into repair requests, and hand the keys over."""

from __future__ import annotations

from datetime import date, time, timedelta

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm_site import outbox, webhooks
from crm_site.audit import audit_change, audit_record, snapshot
from crm_site.models import AuditEntry, User
from customers.models import Customer
from customers.services import customer_update, interaction_log
from sales.models import Building, Opportunity, Unit
from service import events as service_events
from service import outreach, surveys
from service.models import (
    DEFAULT_CHECKLIST,
    Category,
    HandoverAppointment,
    HandoverBatch,
    HandoverNotice,
    HandoverSlot,
    Inspection,
    InspectionItem,
    ServiceRequest,
)

# A unit's owner is the buyer on its signed (or fully paid) deal.
SOLD_STAGES = (Opportunity.Stage.CONTRACTED, Opportunity.Stage.PAID)
# Appointments that can still be booked, inspected and handed over.
CLOSED_STATUSES = (
    HandoverAppointment.Status.HANDED_OVER,
    HandoverAppointment.Status.CANCELLED,
)


def sold_to_invitee() -> Exists:
    """Whether the appointment's unit is still sold to its customer (a signed deal
    naming them): false after 退房, 更名 or 换房. Annotate it as ``still_sold`` to
    spare booking_open a query per appointment."""
    return Exists(
        Opportunity.objects.filter(
            unit_id=OuterRef("unit_id"),
            customer_id=OuterRef("customer_id"),
            stage__in=SOLD_STAGES,
        )
    )


def _still_sold(appointment: HandoverAppointment) -> bool:
    known = getattr(appointment, "still_sold", None)
    if known is not None:
        return known
    return Opportunity.objects.filter(
        unit_id=appointment.unit_id,
        customer_id=appointment.customer_id,
        stage__in=SOLD_STAGES,
    ).exists()


def unit_owners(building: Building) -> dict[int, int]:
    """{unit id: customer id} for the building's sold units not yet handed over."""
    deals = (
        Opportunity.objects.filter(unit__building=building, stage__in=SOLD_STAGES)
        .exclude(unit__status=Unit.Status.HANDED_OVER)
        .order_by("unit_id", "-stage_changed_at")
        .values_list("unit_id", "customer_id")
    )
    owners: dict[int, int] = {}
    for unit_id, customer_id in deals:
        owners.setdefault(unit_id, customer_id)
    return owners


@transaction.atomic
def batch_create(
    *, actor: User, building: Building, name: str, starts_on: date, ends_on: date
) -> HandoverBatch:
    if ends_on < starts_on:
        raise ValidationError({"ends_on": _("The last day is before the first.")})
    batch = HandoverBatch.objects.create(
        building=building,
        name=name.strip(),
        starts_on=starts_on,
        ends_on=ends_on,
        checklist=[dict(row) for row in DEFAULT_CHECKLIST],
        created_by=actor,
    )
    audit_record(actor=actor, instance=batch, action=AuditEntry.Action.CREATE)
    return batch


def checklist_update(
    *, actor: User, batch: HandoverBatch, rows: list[dict[str, str]]
) -> HandoverBatch:
    """Replace the batch's checklist; inspections started from now on use it (those
    already started keep theirs)."""
    rows = [
        {
            "room": row["room"].strip(),
            "item": row["item"].strip(),
            "category": _category(row.get("category")),
        }
        for row in rows
        if row.get("room", "").strip() and row.get("item", "").strip()
    ]
    if not rows:
        raise ValidationError(_("A checklist needs at least one item."))
    before = batch.checklist
    batch.checklist = rows
    batch.save(update_fields=["checklist"])
    audit_record(
        actor=actor,
        instance=batch,
        action=AuditEntry.Action.UPDATE,
        changes={"checklist": {"old": len(before), "new": len(rows)}},
    )
    return batch


# What a slot's audit entries record: enough to tell, once it is gone, which batch,
# day and window it was and how many owners it could take.
SLOT_FIELDS = ["batch", "day", "starts_at", "ends_at", "capacity"]


def _slot_audit(
    *, actor: User, slot: HandoverSlot, action: str, values: dict[str, str]
) -> None:
    created = action == AuditEntry.Action.CREATE
    audit_record(
        actor=actor,
        instance=slot,
        action=action,
        changes={
            name: {"old": "" if created else value, "new": value if created else ""}
            for name, value in values.items()
        },
    )


@transaction.atomic
def slot_add(
    *,
    actor: User,
    batch: HandoverBatch,
    day: date,
    starts_at: time,
    ends_at: time,
    capacity: int,
) -> HandoverSlot:
    if not batch.starts_on <= day <= batch.ends_on:
        raise ValidationError({"day": _("The day is outside the batch's dates.")})
    if ends_at <= starts_at:
        raise ValidationError({"ends_at": _("The window ends before it starts.")})
    # The batch's row lock makes the check and the insert one step: two managers
    # adding the same time at once get one slot, and the second is told.
    HandoverBatch.objects.select_for_update().filter(pk=batch.pk).first()
    if HandoverSlot.objects.filter(batch=batch, day=day, starts_at=starts_at).exists():
        raise ValidationError({"starts_at": _("A slot already starts at this time.")})
    slot = HandoverSlot.objects.create(
        batch=batch, day=day, starts_at=starts_at, ends_at=ends_at, capacity=capacity
    )
    _slot_audit(
        actor=actor,
        slot=slot,
        action=AuditEntry.Action.CREATE,
        values=snapshot(slot, SLOT_FIELDS),
    )
    return slot


@transaction.atomic
def slot_change(
    *, actor: User, slot: HandoverSlot, capacity: int
) -> HandoverSlot | None:
    """Change a slot's capacity, or remove it (capacity 0). Never below the owners
    already booked into it: they keep their time."""
    slot = HandoverSlot.objects.select_for_update().get(pk=slot.pk)
    booked = live_in(slot).count()
    if capacity < booked:
        raise ValidationError(
            _("%(count)s owners are booked into this slot; it cannot hold fewer.")
            % {"count": booked}
        )
    if capacity == 0:
        # Recorded before the row goes: the entry keeps the slot's id.
        _slot_audit(
            actor=actor,
            slot=slot,
            action=AuditEntry.Action.DELETE,
            values=snapshot(slot, SLOT_FIELDS),
        )
        slot.delete()
        return None
    before = snapshot(slot, ["capacity"])
    slot.capacity = capacity
    slot.save(update_fields=["capacity"])
    audit_change(actor=actor, instance=slot, before=before)
    return slot


def live_in(slot: HandoverSlot):
    """The appointments that take a place in the slot: a cancelled one (退房, 更名,
    换房) takes none, even if it still names the slot."""
    return slot.appointments.exclude(status=HandoverAppointment.Status.CANCELLED)


def slots_with_load(batch: HandoverBatch) -> list[HandoverSlot]:
    """The batch's slots, each with `booked` (the live appointments in it, cancelled
    ones not counted); one query."""
    return list(
        batch.slots.annotate(
            booked=Count(
                "appointments",
                filter=~Q(appointments__status=HandoverAppointment.Status.CANCELLED),
            )
        ).order_by("day", "starts_at")
    )


def takes_invitations(batch: HandoverBatch) -> bool:
    """A batch invites owners until it is closed or its last day has passed: its
    booking links would be dead on arrival (booking_open). A unit sold, or a buyer
    changed (更名), after that waits for the building's next batch, whose "Invite the
    owners" picks it up."""
    return (
        batch.status != HandoverBatch.Status.CLOSED
        and batch.ends_on >= timezone.localdate()
    )


@transaction.atomic
def batch_invite(*, actor: User, batch: HandoverBatch) -> int:
    """Invite the owner of every sold unit not yet invited: an appointment and an
    invitation notice each (rows first), then one task per notice after commit.
    Running it again invites only units sold since. The building row is locked
    first: two batches of one building invited at once invite each owner once.
    A closed or ended batch invites no one (takes_invitations)."""
    Building.objects.select_for_update().only("pk").get(pk=batch.building_id)
    batch = HandoverBatch.objects.select_for_update().get(pk=batch.pk)
    if not takes_invitations(batch):
        raise ValidationError(
            _(
                "This batch is closed or its last day has passed: invite the "
                "owners to a later batch of the building."
            )
        )
    owners = unit_owners(batch.building)
    # A unit invited by an earlier batch of the building stays with that batch; a
    # cancelled appointment (退房, 更名) leaves the unit to its next buyer.
    known = set(
        HandoverAppointment.objects.filter(unit__building_id=batch.building_id)
        .exclude(status=HandoverAppointment.Status.CANCELLED)
        .values_list("unit_id", flat=True)
    )
    new = [
        HandoverAppointment(batch=batch, unit_id=unit_id, customer_id=customer_id)
        for unit_id, customer_id in owners.items()
        if unit_id not in known
    ]
    created = HandoverAppointment.objects.bulk_create(new, batch_size=500)
    notices = HandoverNotice.objects.bulk_create(
        [
            HandoverNotice(appointment=a, kind=HandoverNotice.Kind.INVITATION)
            for a in created
        ],
        batch_size=500,
    )
    if batch.status == HandoverBatch.Status.PLANNED:
        batch.status = HandoverBatch.Status.OPEN
        batch.save(update_fields=["status"])
    audit_record(
        actor=actor,
        instance=batch,
        action=AuditEntry.Action.UPDATE,
        changes={"invited": {"old": "", "new": str(len(created))}},
    )
    _queue_notices([n.pk for n in notices])
    return len(created)


@transaction.atomic
def batch_close(*, actor: User, batch: HandoverBatch) -> bool:
    """Close a batch: its booking links stop working. Closing twice does nothing."""
    closed = HandoverBatch.objects.filter(pk=batch.pk).exclude(
        status=HandoverBatch.Status.CLOSED
    )
    if not closed.update(status=HandoverBatch.Status.CLOSED):
        return False
    audit_record(
        actor=actor,
        instance=batch,
        action=AuditEntry.Action.UPDATE,
        changes={"status": {"old": batch.status, "new": HandoverBatch.Status.CLOSED}},
    )
    return True


def _open_appointments(*, unit_id: int, customer_id: int) -> list[HandoverAppointment]:
    return list(
        HandoverAppointment.objects.select_for_update(of=("self",))
        .filter(unit_id=unit_id, customer_id=customer_id)
        .exclude(status__in=CLOSED_STATUSES)
        .select_related("batch")
        .order_by("pk")
    )


def _cancel(actor: User | None, appointment: HandoverAppointment) -> None:
    before = snapshot(appointment, ["status", "slot"])
    appointment.status = HandoverAppointment.Status.CANCELLED
    appointment.slot = None  # its place in the slot is free again
    appointment.save(update_fields=["status", "slot"])
    audit_change(actor=actor, instance=appointment, before=before)


@transaction.atomic
def appointments_cancel(
    *, actor: User | None, unit_id: int, customer_id: int
) -> list[HandoverAppointment]:
    """The customer's deal on the unit was cancelled (退房): their appointments not
    yet handed over are cancelled, their booking link closes, unsent notices are not
    sent, and the unit's next buyer can be invited. Running it again does nothing."""
    cancelled = _open_appointments(unit_id=unit_id, customer_id=customer_id)
    for appointment in cancelled:
        _cancel(actor, appointment)
    return cancelled


@transaction.atomic
def appointments_transfer(
    *, actor: User | None, unit_id: int, old_customer_id: int, new_customer_id: int
) -> list[HandoverAppointment]:
    """The deal on the unit changed its buyer (更名): the former buyer's appointment
    is cancelled (their link closes) and, while its batch still takes invitations
    (not closed, last day not passed), the new buyer is invited in its place (an
    appointment and an invitation of their own). After that the new buyer is left,
    like a unit sold late, to the building's next batch. Running it again does
    nothing. The building row is locked first, as batch_invite does, so a batch
    invited meanwhile and this invitation cannot both invite the new buyer."""
    list(
        Building.objects.select_for_update(of=("self",))
        .filter(units=unit_id)
        .values_list("pk", flat=True)
    )
    invited = []
    for appointment in _open_appointments(unit_id=unit_id, customer_id=old_customer_id):
        _cancel(actor, appointment)
        if not takes_invitations(appointment.batch):
            continue  # a later batch of the building invites the new buyer
        new = HandoverAppointment.objects.create(
            batch=appointment.batch, unit_id=unit_id, customer_id=new_customer_id
        )
        audit_record(actor=actor, instance=new, action=AuditEntry.Action.CREATE)
        notice = HandoverNotice.objects.create(
            appointment=new, kind=HandoverNotice.Kind.INVITATION
        )
        _queue_notices([notice.pk])
        invited.append(new)
    return invited


def _queue_notices(ids: list[int]) -> None:
    from service import tasks

    for pk in ids:
        outreach.queue_on_commit(tasks.handover_notice_send, pk)


@transaction.atomic
def appointment_book(
    *,
    actor: User | None,
    appointment: HandoverAppointment,
    slot: HandoverSlot,
    channel: str = "",
) -> HandoverAppointment:
    """Book (or move) an owner into a slot while it has room; the slot row is locked,
    so two desks (or a desk and the owner online) cannot both take its last place.
    actor None: the owner booked through their link or the portal (channel
    "portal")."""
    if slot.batch_id != appointment.batch_id:
        raise ValidationError(_("The slot belongs to another batch."))
    slot = HandoverSlot.objects.select_for_update().get(pk=slot.pk)
    appointment = HandoverAppointment.objects.select_for_update(of=("self",)).get(
        pk=appointment.pk
    )
    if appointment.status == HandoverAppointment.Status.HANDED_OVER:
        raise ValidationError(_("This unit has been handed over already."))
    if appointment.status == HandoverAppointment.Status.CANCELLED:
        raise ValidationError(_("This handover appointment has been cancelled."))
    if appointment.slot_id == slot.pk:
        return appointment
    taken = live_in(slot).exclude(pk=appointment.pk).count()
    if taken >= slot.capacity:
        raise ValidationError(_("This slot is full; choose another."))
    before = snapshot(appointment, ["slot", "status"])
    appointment.slot = slot
    appointment.status = HandoverAppointment.Status.BOOKED
    # Every move is a new confirmation, a move back to an earlier slot included.
    appointment.sequence += 1
    appointment.save(update_fields=["slot", "status", "sequence"])
    audit_change(actor=actor, instance=appointment, before=before)
    notice = HandoverNotice.objects.create(
        appointment=appointment,
        kind=HandoverNotice.Kind.CONFIRMATION,
        slot=slot,
        sequence=appointment.sequence,
    )
    interaction_log(
        customer=appointment.customer,
        kind="system",
        entry=service_events.HANDOVER_BOOKED(unit=appointment.unit, slot=slot),
        actor=actor,
        link=appointment,
        channel=channel,
    )
    _queue_notices([notice.pk])
    return appointment


# The owner's booking link ---------------------------------------------------------

BOOKING_SALT = "service.handover.booking"


def booking_token(appointment: HandoverAppointment) -> str:
    return signing.dumps(appointment.pk, salt=BOOKING_SALT)


def booking_link(appointment: HandoverAppointment) -> str:
    path = reverse("service:handover-booking", args=[booking_token(appointment)])
    return f"{settings.PUBLIC_BASE_URL}{path}"


def appointment_from_token(token: str) -> HandoverAppointment:
    """The appointment a booking link is for; raises signing.BadSignature when the
    link was altered, HandoverAppointment.DoesNotExist when it is gone. The link works
    while its batch is open (see booking_open)."""
    pk = signing.loads(token, salt=BOOKING_SALT)
    return (
        HandoverAppointment.objects.select_related(
            "batch", "slot", "unit__building__project", "customer"
        )
        .annotate(still_sold=sold_to_invitee())
        .get(pk=int(pk))
    )


def booking_open(appointment: HandoverAppointment) -> bool:
    """The owner may book while the batch is open, the unit not handed over and
    still sold to them (a cancelled deal or a new buyer closes their link)."""
    return (
        appointment.status not in CLOSED_STATUSES
        and takes_invitations(appointment.batch)
        and _still_sold(appointment)
    )


def slots_open_to_owners(batch: HandoverBatch) -> list[HandoverSlot]:
    """Slots an owner may still choose online: from tomorrow on, with room left."""
    tomorrow = timezone.localdate() + timedelta(days=1)
    return [
        slot
        for slot in slots_with_load(batch)
        if slot.day >= tomorrow and slot.booked < slot.capacity
    ]


def _compose_notice(notice: HandoverNotice) -> tuple[str, str]:
    appointment = notice.appointment
    values = {"name": appointment.customer.name, "unit": str(appointment.unit)}
    if notice.kind == HandoverNotice.Kind.CONFIRMATION and notice.slot is not None:
        values |= {
            "day": notice.slot.day.isoformat(),
            "start": notice.slot.starts_at.strftime("%H:%M"),
            "end": notice.slot.ends_at.strftime("%H:%M"),
        }
        text = _(
            "Dear %(name)s, your handover appointment for %(unit)s is on %(day)s, "
            "%(start)s–%(end)s. Please bring your ID card and purchase contract."
        )
    else:
        batch = appointment.batch
        values |= {
            "start": batch.starts_on.isoformat(),
            "end": batch.ends_on.isoformat(),
            "link": booking_link(appointment),
        }
        text = _(
            "Dear %(name)s, your home %(unit)s will be handed over between %(start)s "
            "and %(end)s. Book your appointment at %(link)s or call the service desk."
        )
    return str(_("Anju handover")), text % values


class NoticeKind(outbox.OutboxKind):
    name = "service.handover_notice"
    label = gettext_lazy("Handover notices")
    model = HandoverNotice

    def rows(self):
        return HandoverNotice.objects.select_related(
            "appointment__customer",
            "appointment__unit__building__project",
            "appointment__batch",
            "slot",
        )

    def compose(self, row: HandoverNotice) -> outbox.Message | None:
        if row.appointment.status == HandoverAppointment.Status.CANCELLED:
            return None  # the deal was cancelled or changed buyer: nothing to tell
        subject, text = _compose_notice(row)
        return outreach.message_to(row.appointment.customer, subject, text)

    def describe(self, row: HandoverNotice) -> str:
        return f"{row.appointment.customer} · {row.appointment.unit} · {row.get_kind_display()}"


NOTICES = NoticeKind()


def notice_send(*, notice_id: int) -> bool:
    """Send one notice; a second call, or a concurrent one, sends nothing."""
    return outbox.send_one(NOTICES, notice_id)


def notices_pending(*, now=None) -> list[int]:
    """Notices still to send: their task was lost, the broker was down, or the gateway
    refused them and their next attempt is due. Interrupted sends are settled first."""
    outbox.recover_stale(NOTICES, now=now)
    return outbox.due_ids(NOTICES, now=now)


def notices_send_pending(*, now=None) -> int:
    """Send every pending notice here and now, each once."""
    outbox.recover_stale(NOTICES, now=now)
    return outbox.send_due(NOTICES, now=now)


# Inspection -------------------------------------------------------------------------


@transaction.atomic
def inspection_start(*, actor: User, appointment: HandoverAppointment) -> Inspection:
    """The inspection of the unit, with the batch's checklist; once per appointment.
    Refused once the appointment is cancelled (退房, 更名): the unit's next buyer has
    an appointment, and an inspection, of their own."""
    if appointment.status == HandoverAppointment.Status.CANCELLED:
        raise ValidationError(_("This handover appointment has been cancelled."))
    inspection, created = Inspection.objects.get_or_create(
        appointment=appointment, defaults={"inspector": actor}
    )
    if created:
        InspectionItem.objects.bulk_create(
            InspectionItem(
                inspection=inspection,
                position=n,
                room=row.get("room", ""),
                item=row.get("item", ""),
                category=_category(row.get("category")),
            )
            for n, row in enumerate(appointment.batch.checklist, start=1)
        )
    return inspection


# What the inspection form changes on an item, audited per item.
INSPECTION_FIELDS = ["result", "category", "note", "photo"]


@transaction.atomic
def inspection_save(
    *,
    actor: User,
    appointment: HandoverAppointment,
    items: list[InspectionItem],
) -> list[InspectionItem]:
    """Save the inspection's changed items (the form's unsaved instances), each
    audited. The appointment row is locked and its status read again, as
    handover_complete does: a defect cannot land on a unit whose keys are being
    handed over, where no one would turn it into a repair request."""
    appointment = HandoverAppointment.objects.select_for_update(of=("self",)).get(
        pk=appointment.pk
    )
    if appointment.status == HandoverAppointment.Status.HANDED_OVER:
        raise ValidationError(
            _("The keys are handed over; the inspection can no longer change.")
        )
    if appointment.status == HandoverAppointment.Status.CANCELLED:
        raise ValidationError(_("This handover appointment has been cancelled."))
    current = (
        InspectionItem.objects.select_for_update(of=("self",))
        .filter(inspection__appointment=appointment)
        .in_bulk([item.pk for item in items])
    )
    saved = []
    for item in items:
        old = current.get(item.pk)
        if old is None:
            continue
        if old.repair_request_id:
            continue  # settled: the repair request goes on
        before = snapshot(old, INSPECTION_FIELDS)
        item.save(update_fields=INSPECTION_FIELDS)
        audit_change(actor=actor, instance=item, before=before)
        saved.append(item)
    return saved


def _category(value: str | None) -> str:
    return value if value in Category.values else Category.CONSTRUCTION


@transaction.atomic
def defects_to_requests(*, actor: User, inspection: Inspection) -> list[ServiceRequest]:
    """One repair request per defect not yet turned into one, each linked back to its
    item. The items are locked, so a double click or two desks create each once.
    The appointment is locked and read again, as handover_complete does: once it is
    cancelled (退房, 更名) its customer no longer owns the unit, and no repair is
    recorded for them."""
    from service.services import request_create

    appointment = (
        HandoverAppointment.objects.select_for_update(of=("self",))
        .select_related("customer", "unit__building")
        .get(pk=inspection.appointment_id)
    )
    if appointment.status == HandoverAppointment.Status.CANCELLED:
        raise ValidationError(_("This handover appointment has been cancelled."))
    defects = list(
        InspectionItem.objects.select_for_update()
        .filter(
            inspection=inspection,
            result=InspectionItem.Result.DEFECT,
            repair_request__isnull=True,
        )
        .order_by("position")
    )
    created = []
    for item in defects:
        request = request_create(
            actor=actor,
            customer=appointment.customer,
            unit=appointment.unit,
            kind=ServiceRequest.Kind.REPAIR,
            category=item.category,
            severity="normal",
            channel=ServiceRequest.Channel.WALK_IN,
            description=_("Found at handover inspection — %(room)s, %(item)s: %(note)s")
            % {"room": item.room, "item": item.item, "note": item.note},
        )
        item.repair_request = request
        item.save(update_fields=["repair_request"])
        created.append(request)
    return created


@transaction.atomic
def handover_complete(
    *, actor: User, appointment: HandoverAppointment, on: date | None = None
) -> bool:
    """Hand the keys over: the appointment and the unit are marked handed over, the
    buyer becomes an owner, the timeline says so and the handover survey is planned.
    Refused while a defect found at inspection is not yet a repair request, so none
    is forgotten, and unless the unit is still sold to the invited customer (退房 and
    更名 after the invitation). Repeating it does nothing."""
    on = on or timezone.localdate()
    # The unit's signed deals are locked before the appointment, in the order a
    # deal change takes them (deal, then the appointment in its handler): a change
    # approved meanwhile is waited for and seen.
    buyers = set(
        Opportunity.objects.select_for_update(of=("self",))
        .filter(unit_id=appointment.unit_id, stage__in=SOLD_STAGES)
        .values_list("customer_id", flat=True)
    )
    appointment = (
        HandoverAppointment.objects.select_for_update(of=("self",))
        .select_related("customer", "unit__building")
        .get(pk=appointment.pk)
    )
    if appointment.status == HandoverAppointment.Status.HANDED_OVER:
        return False
    if appointment.status == HandoverAppointment.Status.CANCELLED:
        raise ValidationError(_("This handover appointment has been cancelled."))
    if appointment.customer_id not in buyers:
        raise ValidationError(
            _(
                "Unit %(unit)s is no longer sold to %(name)s: no signed deal names "
                "them. The keys go to the buyer on the deal."
            )
            % {"unit": appointment.unit, "name": appointment.customer.name}
        )
    if InspectionItem.objects.filter(
        inspection__appointment=appointment,
        result=InspectionItem.Result.DEFECT,
        repair_request__isnull=True,
    ).exists():
        raise ValidationError(
            _("Turn the defects into repair requests before handing the keys over.")
        )
    before = snapshot(appointment, ["status", "handed_over_on"])
    appointment.status = HandoverAppointment.Status.HANDED_OVER
    appointment.handed_over_on = on
    appointment.save(update_fields=["status", "handed_over_on"])
    # Who handed the keys over, and when, is on the appointment's trail as its
    # booking and cancelling are.
    audit_change(actor=actor, instance=appointment, before=before)
    unit = appointment.unit
    old_status = unit.status
    Unit.objects.filter(pk=unit.pk).update(
        status=Unit.Status.HANDED_OVER, status_changed_at=timezone.now()
    )
    audit_record(
        actor=actor,
        instance=unit,
        action=AuditEntry.Action.UPDATE,
        changes={"status": {"old": old_status, "new": Unit.Status.HANDED_OVER}},
    )
    webhooks.emit(
        "unit.status_changed",
        data={"unit_id": unit.pk, "from": old_status, "to": Unit.Status.HANDED_OVER},
    )
    if appointment.customer.stage != Customer.Stage.OWNER:
        customer_update(
            actor=actor, customer=appointment.customer, stage=Customer.Stage.OWNER
        )
    interaction_log(
        customer=appointment.customer,
        kind="system",
        entry=service_events.HANDED_OVER(unit=unit, day=on),
        actor=actor,
        link=appointment,
    )
    surveys.invitation_for_handover(appointment)
    return True
