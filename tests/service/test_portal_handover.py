"""Service's part of the owners' portal: the handover under each home (book or change
the slot within capacity), the inspection's defects, and the open surveys."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from customers.models import Interaction
from sales.services import opportunity_contract
from service import handover
from service.models import (
    HandoverAppointment,
    Inspection,
    InspectionItem,
    SurveyInvitation,
    SurveyTemplate,
)
from service.services import request_create

pytestmark = pytest.mark.django_db


def _handover(household, manager, consultant, *, capacity: int = 2):
    opportunity_contract(actor=consultant, opportunity=household.deal)
    today = timezone.localdate()
    batch = handover.batch_create(
        actor=manager,
        building=household.unit.building,
        name="一期交房",
        starts_on=today,
        ends_on=today + timedelta(days=14),
    )
    slots = [
        handover.slot_add(
            actor=manager,
            batch=batch,
            day=today + timedelta(days=3),
            starts_at=time(hour),
            ends_at=time(hour + 1),
            capacity=capacity,
        )
        for hour in (9, 14)
    ]
    handover.batch_invite(actor=manager, batch=batch)
    return HandoverAppointment.objects.get(unit=household.unit), slots


@pytest.fixture
def appointment(owner_household, service_manager, consultant):
    return _handover(owner_household, service_manager, consultant)


def test_the_home_shows_the_handover_batch_and_a_booking_button(
    owner_client, owner_household, appointment
):
    appointment, _slots = appointment
    url = reverse("sales_portal:home-detail", args=[owner_household.deal.pk])
    text = owner_client.get(url).content.decode()
    assert "一期交房" in text
    assert reverse("service_portal:handover-booking", args=[appointment.pk]) in text


def test_an_owner_books_a_slot_and_the_timeline_says_so(
    owner_client, owner, owner_household, appointment
):
    appointment, (morning, afternoon) = appointment
    url = reverse("service_portal:handover-booking", args=[appointment.pk])
    assert owner_client.get(url).status_code == 200
    response = owner_client.post(url, {"slot": morning.pk})
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "sales_portal:home-detail", args=[owner_household.deal.pk]
    )
    appointment.refresh_from_db()
    assert appointment.slot == morning
    assert appointment.status == HandoverAppointment.Status.BOOKED
    assert Interaction.objects.filter(
        customer=owner, event="service.handover_booked", channel="portal"
    ).exists()
    # Changing the time is the same form.
    owner_client.post(url, {"slot": afternoon.pk})
    appointment.refresh_from_db()
    assert appointment.slot == afternoon


def test_a_full_slot_is_not_offered_and_cannot_be_booked(
    owner_client, owner_household, service_manager, consultant
):
    appointment, (morning, _afternoon) = _handover(
        owner_household, service_manager, consultant, capacity=1
    )
    # Someone else's unit of the building took the morning's only place.
    other = HandoverAppointment.objects.create(
        batch=appointment.batch,
        unit=owner_household.unit.building.units.exclude(
            pk=owner_household.unit.pk
        ).first(),
        customer=owner_household.co_buyer,
        slot=morning,
        status="booked",
    )
    assert other.slot == morning
    url = reverse("service_portal:handover-booking", args=[appointment.pk])
    assert morning not in owner_client.get(url).context["slots"]
    response = owner_client.post(url, {"slot": morning.pk})
    assert response.status_code == 400
    assert response.context["form"].errors["slot"]
    appointment.refresh_from_db()
    assert appointment.slot is None


def test_booking_without_a_choice_is_a_form_error(owner_client, appointment):
    appointment, _slots = appointment
    url = reverse("service_portal:handover-booking", args=[appointment.pk])
    response = owner_client.post(url, {})
    assert response.status_code == 400
    appointment.refresh_from_db()
    assert appointment.slot is None


def test_another_households_appointment_is_not_found(other_owner_client, appointment):
    appointment, (morning, _afternoon) = appointment
    url = reverse("service_portal:handover-booking", args=[appointment.pk])
    assert other_owner_client.get(url).status_code == 404
    assert other_owner_client.post(url, {"slot": morning.pk}).status_code == 404
    appointment.refresh_from_db()
    assert appointment.slot is None


def test_the_inspection_defects_show_their_repair_status(
    owner_client, owner, owner_household, appointment, service_manager, service_agent
):
    appointment, _slots = appointment
    inspection = Inspection.objects.create(
        appointment=appointment, inspector=service_manager
    )
    request = request_create(
        actor=service_agent,
        customer=owner,
        unit=owner_household.unit,
        kind="repair",
        category="plumbing",
        severity="normal",
        channel="walk_in",
        description="地漏反水",
    )
    InspectionItem.objects.create(
        inspection=inspection,
        position=1,
        room="卫生间",
        item="防水与地漏",
        result="defect",
        note="地漏反水",
        repair_request=request,
    )
    InspectionItem.objects.create(
        inspection=inspection, position=2, room="客厅", item="墙面", result="pass"
    )
    url = reverse("sales_portal:home-detail", args=[owner_household.deal.pk])
    response = owner_client.get(url)
    text = response.content.decode()
    assert "防水与地漏" in text and "地漏反水" in text
    assert request.get_status_display() in text
    assert "墙面" not in text


def test_open_surveys_are_listed_and_link_to_the_signed_page(
    owner_client, owner, other_owner, appointment
):
    appointment, _slots = appointment
    template = SurveyTemplate.objects.create(name="交房满意度", occasion="handover")
    now = timezone.now()
    open_one = SurveyInvitation.objects.create(
        template=template,
        customer=owner,
        appointment=appointment,
        due_at=now,
        status="sent",
        sent_at=now,
    )
    response = owner_client.get(reverse("service_portal:surveys"))
    assert response.status_code == 200
    (listed,) = response.context["surveys"]
    assert listed["invitation"] == open_one
    # The signed page keeps working, from the portal too.
    assert Client().get(listed["url"]).status_code == 200


def test_answered_and_other_households_surveys_are_not_listed(
    owner_client, owner, other_owner, appointment
):
    appointment, _slots = appointment
    template = SurveyTemplate.objects.create(name="交房满意度", occasion="handover")
    now = timezone.now()
    SurveyInvitation.objects.create(
        template=template,
        customer=owner,
        appointment=appointment,
        due_at=now,
        status="sent",
        sent_at=now,
        answered_at=now,
    )
    response = owner_client.get(reverse("service_portal:surveys"))
    assert response.context["surveys"] == []
    assert "no-surveys" in response.content.decode()


def test_the_surveys_page_counts_queries_that_do_not_grow(
    owner_client, owner, appointment, django_assert_max_num_queries
):
    appointment, _slots = appointment
    template = SurveyTemplate.objects.create(name="交房满意度", occasion="handover")
    url = reverse("service_portal:surveys")
    now = timezone.now()
    SurveyInvitation.objects.create(
        template=template,
        customer=owner,
        appointment=appointment,
        due_at=now,
        status="sent",
        sent_at=now,
    )
    owner_client.get(url)
    with django_assert_max_num_queries(12) as first:
        owner_client.get(url)
    baseline = len(first.captured_queries)
    from service.services import request_create as create

    for n in range(3):
        request = create(
            actor=appointment.batch.created_by,
            customer=owner,
            unit=appointment.unit,
            kind="repair",
            category="plumbing",
            severity="normal",
            channel="phone",
            description=f"问题{n}",
        )
        SurveyInvitation.objects.create(
            template=template,
            customer=owner,
            request=request,
            due_at=now,
            status="sent",
            sent_at=now,
        )
    assert len(owner_client.get(url).context["surveys"]) == 4
    with django_assert_max_num_queries(baseline):
        owner_client.get(url)
