"""What a handover records and who is told: bookings and inspection results in the
audit trail, a confirmation for every move, and the locks that keep two desks (or
two batches) from stepping on each other."""

from __future__ import annotations

import threading
from datetime import time, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from crm_site import messaging
from crm_site.audit import audit_entries_for
from service import handover
from service.models import HandoverAppointment, HandoverNotice, InspectionItem


def _defect_post(item: InspectionItem) -> dict[str, str]:
    return {
        "form-TOTAL_FORMS": "1",
        "form-INITIAL_FORMS": "1",
        "form-0-id": str(item.pk),
        "form-0-result": "defect",
        "form-0-category": "plumbing",
        "form-0-note": "地漏返水",
    }


def test_appointment_book_records_the_slot_and_status_in_the_audit_trail(
    invited, slot, service_agent
):
    appointment = invited[0]
    handover.appointment_book(actor=service_agent, appointment=appointment, slot=slot)
    entry = audit_entries_for(appointment).get()
    assert entry.actor == service_agent
    assert entry.changes == {
        "slot": {"old": "", "new": str(slot)},
        "status": {"old": "invited", "new": "booked"},
    }


def test_booking_the_same_slot_again_records_nothing_more(invited, slot, service_agent):
    appointment = invited[0]
    for _ in range(2):
        handover.appointment_book(
            actor=service_agent, appointment=appointment, slot=slot
        )
    assert audit_entries_for(appointment).count() == 1
    assert appointment.notices.filter(kind="confirmation").count() == 1


def test_inspection_save_audits_each_changed_item(client, invited, service_agent):
    appointment = invited[0]
    inspection = handover.inspection_start(actor=service_agent, appointment=appointment)
    item, untouched = inspection.items.order_by("position")[:2]
    client.force_login(service_agent)
    response = client.post(
        reverse("service:inspection-save", args=[appointment.pk]),
        _defect_post(item),
    )
    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.result, item.note) == ("defect", "地漏返水")
    entry = audit_entries_for(item).get()
    assert entry.actor == service_agent
    assert entry.changes["result"] == {"old": "unchecked", "new": "defect"}
    assert entry.changes["note"] == {"old": "", "new": "地漏返水"}
    assert not audit_entries_for(untouched).exists()


def test_inspection_save_refuses_a_unit_handed_over(invited, service_agent):
    appointment = invited[0]
    inspection = handover.inspection_start(actor=service_agent, appointment=appointment)
    item = inspection.items.order_by("position").first()
    handover.handover_complete(actor=service_agent, appointment=appointment)
    item.result, item.note = InspectionItem.Result.DEFECT, "地漏返水"
    with pytest.raises(ValidationError):
        handover.inspection_save(
            actor=service_agent, appointment=appointment, items=[item]
        )
    assert InspectionItem.objects.get(pk=item.pk).result == "unchecked"
    assert not audit_entries_for(item).exists()


@pytest.mark.django_db(transaction=True)
def test_a_defect_saved_while_the_keys_are_handed_over_is_refused(
    client, invited, service_agent, service_manager
):
    appointment = invited[0]
    inspection = handover.inspection_start(actor=service_agent, appointment=appointment)
    item = inspection.items.order_by("position").first()
    held = threading.Event()
    errors: list[BaseException] = []

    def hand_over() -> None:
        try:
            with transaction.atomic():
                handover.handover_complete(
                    actor=service_manager, appointment=appointment
                )
                held.set()
                # Holds the appointment row while the inspection is posted.
                threading.Event().wait(1.5)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            held.set()
            connection.close()

    thread = threading.Thread(target=hand_over)
    thread.start()
    assert held.wait(timeout=10)
    client.force_login(service_agent)
    response = client.post(
        reverse("service:inspection-save", args=[appointment.pk]),
        _defect_post(item),
    )
    thread.join()
    assert not errors, errors
    assert response.status_code == 302
    assert HandoverAppointment.objects.get(pk=appointment.pk).status == "handed_over"
    assert InspectionItem.objects.get(pk=item.pk).result == "unchecked"


def test_an_owner_moved_back_to_an_earlier_slot_gets_a_new_confirmation(
    invited, slot, batch, service_agent
):
    appointment = invited[0]
    afternoon = handover.slot_add(
        actor=service_agent,
        batch=batch,
        day=batch.starts_on,
        starts_at=time(14),
        ends_at=time(16),
        capacity=2,
    )
    handover.notices_send_pending()  # the invitations
    messaging.sms_outbox.clear()
    for target in (slot, afternoon, slot):
        handover.appointment_book(
            actor=service_agent, appointment=appointment, slot=target
        )
        handover.notices_send_pending()
    confirmations = appointment.notices.filter(kind="confirmation").order_by("pk")
    assert [(n.slot_id, n.sequence) for n in confirmations] == [
        (slot.pk, 1),
        (afternoon.pk, 2),
        (slot.pk, 3),
    ]
    assert [n.status for n in confirmations] == ["sent"] * 3
    mine = [m for m in messaging.sms_outbox if str(appointment.unit) in m.text]
    assert len(mine) == 3
    assert "09:00" in mine[-1].text


@pytest.mark.django_db(transaction=True)
def test_batch_invite_of_two_batches_at_once_invites_each_owner_once(
    building, sold, service_manager
):
    today = timezone.localdate()
    batches = [
        handover.batch_create(
            actor=service_manager,
            building=building,
            name=f"第{n}批",
            starts_on=today,
            ends_on=today + timedelta(days=10),
        )
        for n in (1, 2)
    ]
    held = threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with transaction.atomic():
                handover.batch_invite(actor=service_manager, batch=batches[0])
                held.set()
                threading.Event().wait(1.5)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            held.set()
            connection.close()

    thread = threading.Thread(target=first)
    thread.start()
    assert held.wait(timeout=10)
    second = handover.batch_invite(actor=service_manager, batch=batches[1])
    thread.join()
    assert not errors, errors
    assert second == 0
    for deal in sold:
        assert HandoverAppointment.objects.filter(unit=deal.unit).count() == 1
        assert HandoverNotice.objects.filter(appointment__unit=deal.unit).count() == 1


def test_a_unit_has_one_live_appointment_across_the_buildings_batches(
    invited, building, service_manager
):
    """The index behind the building lock: a second batch cannot hold the same unit
    while its first appointment is live; once that one is cancelled, it can."""
    today = timezone.localdate()
    second = handover.batch_create(
        actor=service_manager,
        building=building,
        name="第二批",
        starts_on=today,
        ends_on=today + timedelta(days=10),
    )
    first = invited[0]
    with pytest.raises(IntegrityError), transaction.atomic():
        HandoverAppointment.objects.create(
            batch=second, unit=first.unit, customer=first.customer
        )
    HandoverAppointment.objects.filter(pk=first.pk).update(
        status=HandoverAppointment.Status.CANCELLED
    )
    HandoverAppointment.objects.create(
        batch=second, unit=first.unit, customer=first.customer
    )
