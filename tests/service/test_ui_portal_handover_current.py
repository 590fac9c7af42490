"""The portal's handover booking page marks the slot the owner holds: its button
checked and labelled "当前预约", even when the owner's own booking filled it
(service.views.portal_handover.handover_booking)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.service.test_portal_handover import _handover

pytestmark = pytest.mark.django_db

CURRENT = "当前预约"


def _radios(body: str) -> dict[int, str]:
    """Each slot's radio button and its label, by the slot's key."""
    return {
        int(pk): block
        for block, pk in re.findall(
            r'(<input type="radio"[^>]*value="(\d+)".*?</label>)', body, re.S
        )
    }


def test_the_slot_the_owner_holds_is_checked_and_labelled(
    owner_client, service_manager, consultant, owner_household
):
    appointment, (morning, afternoon) = _handover(
        owner_household, service_manager, consultant
    )
    url = reverse("service_portal:handover-booking", args=[appointment.pk])
    owner_client.post(url, {"slot": morning.pk})
    response = owner_client.get(url)
    assert response.status_code == 200
    radios = _radios(response.content.decode())
    assert set(radios) == {morning.pk, afternoon.pk}
    assert "checked" in radios[morning.pk]
    assert CURRENT in radios[morning.pk]
    assert "checked" not in radios[afternoon.pk]
    assert CURRENT not in radios[afternoon.pk]


def test_nothing_is_checked_or_labelled_before_a_booking(
    owner_client, service_manager, consultant, owner_household
):
    appointment, _slots = _handover(owner_household, service_manager, consultant)
    url = reverse("service_portal:handover-booking", args=[appointment.pk])
    body = owner_client.get(url).content.decode()
    radios = _radios(body)
    assert len(radios) == 2
    assert not any("checked" in radio for radio in radios.values())
    assert CURRENT not in body


def test_a_slot_the_owners_own_booking_filled_is_still_shown_as_theirs(
    owner_client, service_manager, consultant, owner_household
):
    appointment, (morning, afternoon) = _handover(
        owner_household, service_manager, consultant, capacity=1
    )
    url = reverse("service_portal:handover-booking", args=[appointment.pk])
    owner_client.post(url, {"slot": morning.pk})
    appointment.refresh_from_db()
    sequence = appointment.sequence
    radios = _radios(owner_client.get(url).content.decode())
    assert set(radios) == {morning.pk, afternoon.pk}
    assert "checked" in radios[morning.pk] and CURRENT in radios[morning.pk]
    # Sending the page as it is keeps the booking: no new confirmation.
    assert owner_client.post(url, {"slot": morning.pk}).status_code == 302
    appointment.refresh_from_db()
    assert appointment.slot == morning and appointment.sequence == sequence


def test_a_refused_choice_keeps_the_current_slot_labelled(
    owner_client, service_manager, consultant, owner_household
):
    appointment, (morning, afternoon) = _handover(
        owner_household, service_manager, consultant
    )
    url = reverse("service_portal:handover-booking", args=[appointment.pk])
    owner_client.post(url, {"slot": morning.pk})
    response = owner_client.post(url, {"slot": "not-a-slot"})
    assert response.status_code == 400
    radios = _radios(response.content.decode())
    assert CURRENT in radios[morning.pk]
    assert CURRENT not in radios[afternoon.pk]
