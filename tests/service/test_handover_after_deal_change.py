"""Handover after a deal changes (退房, 更名): the keys go only to the buyer on the
unit's signed deal, the former buyer's link closes, and the next buyer is invited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone, translation

from crm_site import messaging, portal
from crm_site.audit import audit_entries_for
from customers.models import Customer
from sales import services as sales_services
from sales.models import Opportunity, Unit
from service import handover
from service.models import HandoverAppointment, HandoverBatch, HandoverNotice
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def _cancel_deal(unit, consultant, sales_manager) -> Opportunity:
    """退房 as sales does it: asked by the consultant, approved by a manager."""
    deal = Opportunity.objects.get(unit=unit, stage=Opportunity.Stage.CONTRACTED)
    change = sales_services.deal_change_request(
        actor=consultant, opportunity=deal, kind="cancel", reason="退房"
    )
    sales_services.deal_change_decide(actor=sales_manager, change=change, approve=True)
    deal.refresh_from_db()
    return deal


def _change_buyer(unit, new_buyer, consultant, sales_manager) -> Opportunity:
    """更名 as sales does it."""
    deal = Opportunity.objects.get(unit=unit, stage=Opportunity.Stage.CONTRACTED)
    change = sales_services.deal_change_request(
        actor=consultant,
        opportunity=deal,
        kind="change_buyer",
        reason="更名",
        new_customer=new_buyer,
    )
    sales_services.deal_change_decide(actor=sales_manager, change=change, approve=True)
    deal.refresh_from_db()
    return deal


def test_handover_complete_refuses_a_unit_whose_deal_was_cancelled(
    invited, service_agent
):
    appointment = invited[0]
    former_buyer = appointment.customer
    # What the sale's cancellation leaves, without service hearing of it.
    Opportunity.objects.filter(unit=appointment.unit).update(
        stage=Opportunity.Stage.LOST
    )
    Unit.objects.filter(pk=appointment.unit_id).update(status=Unit.Status.AVAILABLE)
    with (
        translation.override("en"),
        pytest.raises(ValidationError, match="no longer sold"),
    ):
        handover.handover_complete(actor=service_agent, appointment=appointment)
    assert Unit.objects.get(pk=appointment.unit_id).status == Unit.Status.AVAILABLE
    assert Customer.objects.get(pk=former_buyer.pk).stage != Customer.Stage.OWNER
    appointment.refresh_from_db()
    assert appointment.status == HandoverAppointment.Status.INVITED


def test_handover_complete_refuses_the_buyer_replaced_on_the_deal(
    invited, service_agent
):
    appointment = invited[0]
    former_buyer = appointment.customer
    new_buyer = CustomerFactory(stage="buyer")
    Opportunity.objects.filter(unit=appointment.unit).update(customer=new_buyer)
    with pytest.raises(ValidationError):
        handover.handover_complete(actor=service_agent, appointment=appointment)
    assert Customer.objects.get(pk=former_buyer.pk).stage != Customer.Stage.OWNER
    assert Unit.objects.get(pk=appointment.unit_id).status != (Unit.Status.HANDED_OVER)


def test_the_booking_link_closes_once_the_deal_is_cancelled(client, invited):
    appointment = invited[0]
    link = reverse(
        "service:handover-booking", args=[handover.booking_token(appointment)]
    )
    assert client.get(link).status_code == 200
    Opportunity.objects.filter(unit=appointment.unit).update(
        stage=Opportunity.Stage.LOST
    )
    assert not handover.booking_open(HandoverAppointment.objects.get(pk=appointment.pk))
    assert client.get(link).status_code == 410


def test_cancelling_the_deal_cancels_the_open_appointment(
    invited, slot, consultant, sales_manager, service_agent
):
    appointment = invited[0]
    former_buyer = appointment.customer
    handover.appointment_book(actor=service_agent, appointment=appointment, slot=slot)
    assert portal.is_eligible(former_buyer)

    _cancel_deal(appointment.unit, consultant, sales_manager)

    appointment.refresh_from_db()
    assert appointment.status == HandoverAppointment.Status.CANCELLED
    assert appointment.slot is None  # its place in the slot is free again
    assert audit_entries_for(appointment).first().changes["status"] == {
        "old": "booked",
        "new": "cancelled",
    }
    assert not handover.booking_open(appointment)
    # Notices not yet sent go nowhere; the former buyer is not told of a handover.
    handover.notices_send_pending()
    assert not [m for m in messaging.sms_outbox if str(appointment.unit) in m.text]
    assert set(
        HandoverNotice.objects.filter(appointment=appointment).values_list(
            "status", flat=True
        )
    ) == {"skipped"}
    # The former buyer is no longer a portal owner through the appointment.
    assert not portal.is_eligible(Customer.objects.get(pk=former_buyer.pk))
    with pytest.raises(ValidationError):
        handover.handover_complete(actor=service_agent, appointment=appointment)
    with pytest.raises(ValidationError):
        handover.appointment_book(
            actor=service_agent, appointment=appointment, slot=slot
        )


def test_the_unit_sold_again_after_a_cancellation_is_invited_to_its_new_buyer(
    invited, batch, consultant, sales_manager, service_manager
):
    appointment = invited[0]
    _cancel_deal(appointment.unit, consultant, sales_manager)
    new_buyer = CustomerFactory(stage="buyer")
    Unit.objects.filter(pk=appointment.unit_id).update(status=Unit.Status.CONTRACTED)
    Opportunity.objects.create(
        customer=new_buyer,
        project=appointment.unit.building.project,
        unit=appointment.unit,
        consultant=consultant,
        stage=Opportunity.Stage.CONTRACTED,
    )

    assert handover.batch_invite(actor=service_manager, batch=batch) == 1

    fresh = HandoverAppointment.objects.exclude(
        status=HandoverAppointment.Status.CANCELLED
    ).get(unit=appointment.unit)
    assert fresh.customer == new_buyer
    assert fresh.notices.filter(kind="invitation").exists()


def test_cancelling_twice_changes_nothing_the_second_time(
    invited, consultant, sales_manager, service_agent
):
    appointment = invited[0]
    deal = _cancel_deal(appointment.unit, consultant, sales_manager)
    entries = audit_entries_for(appointment).count()
    assert (
        handover.appointments_cancel(
            actor=service_agent, unit_id=deal.unit_id, customer_id=deal.customer_id
        )
        == []
    )
    assert audit_entries_for(appointment).count() == entries


def test_a_buyer_change_invites_the_new_buyer_and_closes_the_former_link(
    invited, slot, consultant, sales_manager, service_agent
):
    appointment = invited[0]
    former_buyer = appointment.customer
    handover.appointment_book(actor=service_agent, appointment=appointment, slot=slot)
    new_buyer = CustomerFactory(stage="buyer")

    _change_buyer(appointment.unit, new_buyer, consultant, sales_manager)

    appointment.refresh_from_db()
    assert appointment.status == HandoverAppointment.Status.CANCELLED
    assert not handover.booking_open(appointment)
    fresh = HandoverAppointment.objects.exclude(pk=appointment.pk).get(
        unit=appointment.unit
    )
    assert fresh.customer == new_buyer
    assert fresh.status == HandoverAppointment.Status.INVITED
    assert fresh.batch_id == appointment.batch_id
    assert handover.booking_open(
        HandoverAppointment.objects.select_related("batch").get(pk=fresh.pk)
    )
    assert fresh.notices.get().kind == HandoverNotice.Kind.INVITATION

    assert handover.handover_complete(actor=service_agent, appointment=fresh)
    assert Customer.objects.get(pk=new_buyer.pk).stage == Customer.Stage.OWNER
    assert Customer.objects.get(pk=former_buyer.pk).stage != Customer.Stage.OWNER


def test_a_buyer_change_after_the_handover_leaves_the_handover_as_it_was(
    invited, consultant, sales_manager, service_agent
):
    appointment = invited[0]
    handover.handover_complete(actor=service_agent, appointment=appointment)
    new_buyer = CustomerFactory(stage="buyer")

    _change_buyer(appointment.unit, new_buyer, consultant, sales_manager)

    appointment.refresh_from_db()
    assert appointment.status == HandoverAppointment.Status.HANDED_OVER
    assert HandoverAppointment.objects.filter(unit=appointment.unit).count() == 1


def test_a_cancelled_appointment_s_page_says_so_and_offers_no_step(
    client, invited, service_agent
):
    appointment = invited[0]
    HandoverAppointment.objects.filter(pk=appointment.pk).update(
        status=HandoverAppointment.Status.CANCELLED
    )
    client.force_login(service_agent)
    page = client.get(
        reverse("service:handover-appointment", args=[appointment.pk])
    ).content.decode()
    assert 'data-testid="appointment-cancelled"' in page
    assert 'data-testid="book-form"' not in page
    start = reverse("service:inspection-start", args=[appointment.pk])
    assert f'action="{start}"' not in page
    assert "btn btn-primary mt-3" not in page  # no "Save the inspection"


def _ended(batch) -> None:
    """The batch's last day has passed; nobody closed it."""
    today = timezone.localdate()
    HandoverBatch.objects.filter(pk=batch.pk).update(
        starts_on=today - timedelta(days=20), ends_on=today - timedelta(days=1)
    )


def test_a_buyer_change_after_the_batch_s_last_day_invites_no_one_to_it(
    invited, batch, building, consultant, sales_manager, service_manager
):
    appointment = invited[0]
    _ended(batch)
    new_buyer = CustomerFactory(stage="buyer")

    _change_buyer(appointment.unit, new_buyer, consultant, sales_manager)

    appointment.refresh_from_db()
    assert appointment.status == HandoverAppointment.Status.CANCELLED
    assert not HandoverAppointment.objects.filter(customer=new_buyer).exists()
    assert not HandoverNotice.objects.filter(appointment__customer=new_buyer).exists()
    # Like a unit sold late, the new buyer waits for the building's next batch.
    today = timezone.localdate()
    later = handover.batch_create(
        actor=service_manager,
        building=building,
        name="第二批",
        starts_on=today,
        ends_on=today + timedelta(days=10),
    )
    assert handover.batch_invite(actor=service_manager, batch=later) == 1
    fresh = HandoverAppointment.objects.get(customer=new_buyer)
    assert fresh.batch == later and fresh.unit == appointment.unit
    assert fresh.notices.get().kind == HandoverNotice.Kind.INVITATION


def test_an_ended_batch_invites_no_one_and_says_so(
    client, batch, sold, service_manager
):
    _ended(batch)
    with pytest.raises(ValidationError):
        handover.batch_invite(actor=service_manager, batch=batch)
    client.force_login(service_manager)
    page = client.get(batch.get_absolute_url()).content.decode()
    assert 'data-testid="invite-owners"' not in page
    response = client.post(reverse("service:handover-invite", args=[batch.pk]))
    assert response.status_code == 302
    assert not HandoverAppointment.objects.exists()
    assert not HandoverNotice.objects.exists()
