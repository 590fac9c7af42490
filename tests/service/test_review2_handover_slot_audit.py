"""Handover slots opened, shrunk or removed leave an audit entry: who cut the
capacity of a handover day, or deleted a slot, can be traced."""

from __future__ import annotations

import re
from datetime import time

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.urls import reverse

from crm_site.audit import audit_entries_for
from crm_site.models import AuditEntry
from crm_site.submissions import FIELD
from service import handover
from service.models import HandoverSlot


def slot_entries(slot_pk: int):
    return AuditEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(HandoverSlot),
        object_id=slot_pk,
    ).order_by("pk")


def test_adding_a_slot_is_audited_with_its_day_window_and_capacity(
    batch, service_manager
):
    slot = handover.slot_add(
        actor=service_manager,
        batch=batch,
        day=batch.starts_on,
        starts_at=time(14),
        ends_at=time(16),
        capacity=6,
    )

    entry = audit_entries_for(slot).get()
    assert entry.actor == service_manager
    assert entry.action == AuditEntry.Action.CREATE
    assert entry.changes["capacity"] == {"old": "", "new": "6"}
    assert entry.changes["batch"] == {"old": "", "new": str(batch)}
    assert entry.changes["starts_at"]["new"] == str(time(14))


def test_a_refused_slot_leaves_no_entry(batch, slot, service_manager):
    before = AuditEntry.objects.count()
    with pytest.raises(ValidationError):
        handover.slot_add(
            actor=service_manager,
            batch=batch,
            day=slot.day,
            starts_at=slot.starts_at,
            ends_at=time(12),
            capacity=1,
        )
    assert AuditEntry.objects.count() == before


def test_cutting_a_slots_capacity_is_audited_once(slot, service_manager):
    handover.slot_change(actor=service_manager, slot=slot, capacity=1)
    handover.slot_change(actor=service_manager, slot=slot, capacity=1)

    entry = slot_entries(slot.pk).get(action=AuditEntry.Action.UPDATE)
    assert entry.actor == service_manager
    assert entry.changes == {"capacity": {"old": "2", "new": "1"}}


def test_a_capacity_change_refused_for_its_bookings_leaves_no_entry(
    invited, slot, service_agent, service_manager
):
    handover.appointment_book(actor=service_agent, appointment=invited[0], slot=slot)
    with pytest.raises(ValidationError):
        handover.slot_change(actor=service_manager, slot=slot, capacity=0)
    assert not slot_entries(slot.pk).exclude(action=AuditEntry.Action.CREATE).exists()


def test_removing_a_slot_from_the_batch_page_is_audited_with_what_it_was(
    client, batch, slot, service_manager
):
    client.force_login(service_manager)
    url = reverse("service:handover-slot-change", args=[batch.pk, slot.pk])

    response = client.post(url, {"capacity": "0"})

    assert response.status_code == 302
    assert not HandoverSlot.objects.filter(pk=slot.pk).exists()
    entry = slot_entries(slot.pk).get(action=AuditEntry.Action.DELETE)
    assert entry.actor == service_manager
    assert entry.object_repr == str(slot)
    assert entry.changes["capacity"] == {"old": "2", "new": ""}
    assert entry.changes["batch"] == {"old": str(batch), "new": ""}
    assert entry.changes["day"] == {"old": str(slot.day), "new": ""}


def test_a_double_click_removing_a_slot_lands_on_the_batch_not_a_404(
    client, batch, slot, service_manager
):
    client.force_login(service_manager)
    url = reverse("service:handover-slot-change", args=[batch.pk, slot.pk])
    page = client.get(batch.get_absolute_url()).content.decode()
    form = re.search(
        rf'<form[^>]*action="{re.escape(url)}"[^>]*>(.*?)</form>', page, re.S
    )
    tokens = re.findall(rf'name="{FIELD}" value="([^"]+)"', form.group(1))
    assert tokens, "the slot's form carries no one-time token"
    data = {"capacity": "0", FIELD: tokens[0]}

    client.post(url, data)
    second = client.post(url, data)

    assert second.status_code == 302
    assert second.url == batch.get_absolute_url()
    assert slot_entries(slot.pk).filter(action=AuditEntry.Action.DELETE).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_managers_adding_the_same_slot_at_once_make_one(
    batch, service_manager, monkeypatch
):
    """The check that no slot starts at that time and the insert are one step per
    batch: the second manager waits for the first and is told the time is taken."""
    import threading

    from django.db import connection

    first_inside = threading.Event()
    audit = handover._slot_audit

    def slow_audit(**kwargs):
        audit(**kwargs)
        if threading.current_thread().name == "first":
            first_inside.set()
            threading.Event().wait(0.5)  # the first slot not yet committed

    monkeypatch.setattr(handover, "_slot_audit", slow_audit)
    errors: list[BaseException] = []

    def add():
        try:
            handover.slot_add(
                actor=service_manager,
                batch=batch,
                day=batch.starts_on,
                starts_at=time(7),
                ends_at=time(8),
                capacity=2,
            )
        except BaseException as exc:  # noqa: BLE001 - the test reads it
            errors.append(exc)
        finally:
            connection.close()

    first = threading.Thread(target=add, name="first")
    second = threading.Thread(target=add, name="second")
    first.start()
    assert first_inside.wait(5)
    second.start()
    first.join(10)
    second.join(10)

    assert HandoverSlot.objects.filter(batch=batch, starts_at=time(7)).count() == 1
    assert len(errors) == 1 and isinstance(errors[0], ValidationError)
    assert "starts_at" in errors[0].message_dict
