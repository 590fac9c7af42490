from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from crm_site import messaging
from customers.models import Customer, Interaction
from customers.phones import format_phone, mask_phone
from sales.models import Opportunity, Unit
from service import handover, tasks
from service.models import (
    HandoverAppointment,
    HandoverBatch,
    HandoverNotice,
    InspectionItem,
    ServiceRequest,
    SurveyInvitation,
)
from tests.helpers import assert_queries_do_not_grow
from tests.service.conftest import sell

PERSONAS = [
    "consultant",
    "sales_manager",
    "service_agent",
    "service_manager",
    "marketer",
    "executive",
    "administrator",
    "outsider",
]
# The executive sees the handover pages and acts on none.
SEE = {"service_agent", "service_manager", "executive", "administrator"}
SERVICE = {"service_agent", "service_manager", "administrator"}
MANAGERS = {"service_manager", "administrator"}


# Owners and invitations -------------------------------------------------------------


def test_unit_owner_is_the_buyer_on_the_signed_deal(building, sold, consultant):
    reserved_unit = building.units.order_by("-floor", "-position").first()
    Opportunity.objects.create(
        customer=sold[0].customer,
        project=building.project,
        unit=reserved_unit,
        consultant=consultant,
        stage=Opportunity.Stage.RESERVED,
    )
    owners = handover.unit_owners(building)
    assert owners == {deal.unit_id: deal.customer_id for deal in sold}


def test_invite_creates_one_appointment_and_notice_per_sold_unit_once(
    batch, sold, service_manager, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr(tasks.handover_notice_send, "delay", queued.append)
    with django_capture_on_commit_callbacks(execute=True):
        assert handover.batch_invite(actor=service_manager, batch=batch) == 3
    assert HandoverAppointment.objects.filter(batch=batch).count() == 3
    notices = HandoverNotice.objects.filter(kind="invitation")
    assert sorted(queued) == sorted(notices.values_list("pk", flat=True))
    batch.refresh_from_db()
    assert batch.status == HandoverBatch.Status.OPEN
    with django_capture_on_commit_callbacks(execute=True):
        assert handover.batch_invite(actor=service_manager, batch=batch) == 0
    assert notices.count() == 3 and len(queued) == 3


def test_invite_skips_units_already_handed_over(batch, sold, service_manager):
    Unit.objects.filter(pk=sold[0].unit_id).update(status=Unit.Status.HANDED_OVER)
    assert handover.batch_invite(actor=service_manager, batch=batch) == 2


def test_notice_is_sent_once_by_sms_even_if_the_task_runs_twice(invited):
    notice = HandoverNotice.objects.first()
    assert handover.notice_send(notice_id=notice.pk) is True
    assert handover.notice_send(notice_id=notice.pk) is False
    assert handover.notices_send_pending() == 2
    assert handover.notices_send_pending() == 0
    assert len(messaging.sms_outbox) == 3
    notice.refresh_from_db()
    assert notice.status == "sent" and notice.channel == "sms" and notice.message_id
    assert str(invited[0].unit) in messaging.sms_outbox[0].text


def test_the_notice_sweep_queues_a_task_per_pending_notice(invited, monkeypatch):
    queued = []
    monkeypatch.setattr(tasks.handover_notice_send, "delay", queued.append)
    assert tasks.handover_notices_send() == 3
    assert sorted(queued) == sorted(HandoverNotice.objects.values_list("pk", flat=True))
    assert tasks.handover_notice_send(queued[0]) is True
    assert tasks.handover_notice_send(queued[0]) is False


def test_notice_goes_by_email_when_the_owner_prefers_it(invited):
    owner = invited[0].customer
    Customer.objects.filter(pk=owner.pk).update(
        preferred_channel="email", email="owner@example.com"
    )
    notice = HandoverNotice.objects.get(appointment=invited[0])
    assert handover.notice_send(notice_id=notice.pk)
    assert mail.outbox[0].to == ["owner@example.com"] and not messaging.sms_outbox


def test_notice_is_not_sent_to_an_owner_who_refused_service_contact(invited):
    Customer.objects.filter(pk=invited[0].customer_id).update(consent_service=False)
    notice = HandoverNotice.objects.get(appointment=invited[0])
    assert handover.notice_send(notice_id=notice.pk) is False
    notice.refresh_from_db()
    assert notice.status == "skipped" and not messaging.sms_outbox


def test_a_refused_notice_is_retried_later_and_a_stale_claim_released(
    invited, monkeypatch
):
    def refuse(phone, text, **kwargs):
        raise messaging.SendFailed("gateway down")

    monkeypatch.setattr(messaging, "send_sms", refuse)
    notice = HandoverNotice.objects.get(appointment=invited[0])
    assert handover.notice_send(notice_id=notice.pk) is False
    notice.refresh_from_db()
    assert notice.status == "pending" and notice.attempts == 1
    assert notice.error == "gateway down"
    assert notice.next_attempt_at > timezone.now()  # after a back-off
    monkeypatch.undo()
    HandoverNotice.objects.filter(pk=notice.pk).update(
        status="sending", claimed_at=timezone.now() - timedelta(hours=1)
    )
    handover.notices_send_pending()
    notice.refresh_from_db()
    assert notice.status == "sent"


# Slots and booking -------------------------------------------------------------------


def test_slot_must_fall_within_the_batch_and_not_repeat(batch, slot, service_manager):
    with pytest.raises(ValidationError):
        handover.slot_add(
            actor=service_manager,
            batch=batch,
            day=batch.ends_on + timedelta(days=1),
            starts_at=time(9),
            ends_at=time(10),
            capacity=1,
        )
    with pytest.raises(ValidationError):
        handover.slot_add(
            actor=service_manager,
            batch=batch,
            day=slot.day,
            starts_at=time(9),
            ends_at=time(10),
            capacity=1,
        )


def test_a_slot_shrinks_or_goes_only_down_to_its_bookings(
    client, invited, slot, service_agent, service_manager
):
    handover.appointment_book(actor=service_agent, appointment=invited[0], slot=slot)
    with pytest.raises(ValidationError):
        handover.slot_change(actor=service_manager, slot=slot, capacity=0)
    assert handover.slot_change(actor=service_manager, slot=slot, capacity=1)
    url = reverse("service:handover-slot-change", args=[slot.batch_id, slot.pk])
    client.force_login(service_agent)
    assert client.post(url, {"capacity": "5"}).status_code == 403
    client.force_login(service_manager)
    client.post(url, {"capacity": "-1"})
    slot.refresh_from_db()
    assert slot.capacity == 1
    type(invited[0]).objects.filter(pk=invited[0].pk).update(slot=None)
    client.post(url, {"capacity": "0"})
    assert not type(slot).objects.filter(pk=slot.pk).exists()


def test_a_cancelled_appointment_takes_no_place_in_its_slot(
    client, invited, batch, slot, service_agent, service_manager
):
    for appointment in invited[:2]:
        handover.appointment_book(
            actor=service_agent, appointment=appointment, slot=slot
        )
    # Cancelled (退房) while still naming the slot it had.
    HandoverAppointment.objects.filter(pk=invited[1].pk).update(
        status=HandoverAppointment.Status.CANCELLED
    )
    client.force_login(service_manager)
    (shown,) = client.get(batch.get_absolute_url()).context["slots"]
    assert shown.booked == 1
    assert handover.slot_change(actor=service_manager, slot=slot, capacity=1)
    handover.slot_change(actor=service_manager, slot=slot, capacity=2)
    handover.appointment_book(actor=service_agent, appointment=invited[2], slot=slot)
    invited[2].refresh_from_db()
    assert invited[2].slot == slot


def test_booking_respects_the_slot_capacity_and_confirms(invited, slot, service_agent):
    for appointment in invited[:2]:
        handover.appointment_book(
            actor=service_agent, appointment=appointment, slot=slot
        )
    with pytest.raises(ValidationError):
        handover.appointment_book(
            actor=service_agent, appointment=invited[2], slot=slot
        )
    # Booking the same slot again is a no-op, not a capacity error.
    handover.appointment_book(actor=service_agent, appointment=invited[0], slot=slot)
    assert HandoverNotice.objects.filter(kind="confirmation").count() == 2
    invited[0].refresh_from_db()
    assert invited[0].status == "booked" and invited[0].slot == slot
    assert Interaction.objects.filter(
        customer=invited[0].customer,
        event="service.handover_booked",
        params__slot=str(slot),
    ).exists()


# Inspection, defects, completion ----------------------------------------------------


def _inspect(appointment, actor, defects=2):
    inspection = handover.inspection_start(actor=actor, appointment=appointment)
    items = list(inspection.items.order_by("position"))
    for n, item in enumerate(items):
        item.result = "defect" if n < defects else "pass"
        item.note = "墙面开裂" if n < defects else ""
        item.save()
    return inspection


def test_inspection_starts_once_with_the_batch_checklist(invited, service_agent):
    first = handover.inspection_start(actor=service_agent, appointment=invited[0])
    again = handover.inspection_start(actor=service_agent, appointment=invited[0])
    assert first == again
    assert first.items.count() == len(invited[0].batch.checklist) == 10


def test_defects_become_repair_requests_once_linked_to_their_items(
    invited, service_agent
):
    inspection = _inspect(invited[0], service_agent)
    created = handover.defects_to_requests(actor=service_agent, inspection=inspection)
    assert len(created) == 2
    assert (
        handover.defects_to_requests(actor=service_agent, inspection=inspection) == []
    )
    requests = ServiceRequest.objects.filter(kind="repair")
    assert requests.count() == 2
    request = requests.get(inspection_item__position=1)
    assert request.unit_id == invited[0].unit_id
    assert request.customer_id == invited[0].customer_id
    assert request.receiver == service_agent and "墙面开裂" in request.description


def test_completion_marks_unit_owner_timeline_and_plans_the_survey(
    invited, service_agent, settings
):
    appointment = invited[0]
    assert handover.handover_complete(actor=service_agent, appointment=appointment)
    assert not handover.handover_complete(actor=service_agent, appointment=appointment)
    appointment.refresh_from_db()
    assert appointment.status == "handed_over"
    assert appointment.handed_over_on == timezone.localdate()
    assert Unit.objects.get(pk=appointment.unit_id).status == "handed_over"
    assert Customer.objects.get(pk=appointment.customer_id).stage == "owner"
    assert Interaction.objects.filter(
        customer=appointment.customer, link_id=appointment.pk, kind="system"
    ).exists()
    invitation = SurveyInvitation.objects.get(appointment=appointment)
    due = timezone.localtime(invitation.due_at)
    assert due.date() == timezone.localdate() + timedelta(
        days=settings.SURVEY_AFTER_HANDOVER_DAYS
    )
    assert due.hour == 10
    assert invitation.project_id == appointment.unit.building.project_id


# Views: permissions -----------------------------------------------------------------


def _pages(batch, appointment):
    yield "get", reverse("service:handover-list"), SEE
    yield "get", reverse("service:handover-detail", args=[batch.pk]), SEE
    yield "get", reverse("service:handover-appointment", args=[appointment.pk]), SEE
    yield "get", reverse("service:handover-create"), MANAGERS
    yield "post", reverse("service:handover-invite", args=[batch.pk]), MANAGERS
    yield "post", reverse("service:handover-slot-add", args=[batch.pk]), MANAGERS
    yield "post", reverse("service:inspection-start", args=[appointment.pk]), SERVICE
    yield "post", reverse("service:handover-close", args=[batch.pk]), MANAGERS


@pytest.mark.parametrize("persona", PERSONAS, indirect=True)
def test_handover_pages_for_every_role(client, persona, invited, batch):
    client.force_login(persona)
    for method, url, allowed in _pages(batch, invited[0]):
        response = getattr(client, method)(url)
        expected = {200, 302} if persona.username in _names(allowed) else {403}
        assert response.status_code in expected, (url, persona.username)


def _names(personas: set[str]) -> set[str]:
    usernames = {"administrator": "admin"}
    return {usernames.get(p, p) for p in personas}


def test_anonymous_visitors_are_sent_to_log_in(client, batch):
    response = client.get(reverse("service:handover-detail", args=[batch.pk]))
    assert response.status_code == 302 and "login" in response.url


# Views: the journey and bad input ---------------------------------------------------


def test_manager_creates_a_batch_and_a_bad_date_range_saves_nothing(
    client, service_manager, building
):
    client.force_login(service_manager)
    today = timezone.localdate()
    bad = client.post(
        reverse("service:handover-create"),
        {
            "building": building.pk,
            "name": "第一批",
            "starts_on": today,
            "ends_on": today - timedelta(days=1),
        },
    )
    assert bad.status_code == 200 and "ends_on" in bad.context["form"].errors
    assert not HandoverBatch.objects.exists()
    good = client.post(
        reverse("service:handover-create"),
        {
            "building": building.pk,
            "name": "第一批",
            "starts_on": today,
            "ends_on": today + timedelta(days=3),
        },
    )
    batch = HandoverBatch.objects.get()
    assert good.url == batch.get_absolute_url()


def test_slot_form_shows_the_error_next_to_the_field(client, service_manager, batch):
    client.force_login(service_manager)
    response = client.post(
        reverse("service:handover-slot-add", args=[batch.pk]),
        {
            "day": batch.ends_on + timedelta(days=5),
            "starts_at": "09:00",
            "ends_at": "10:00",
            "capacity": 3,
        },
    )
    assert response.status_code == 200
    assert "day" in response.context["slot_form"].errors
    assert not batch.slots.exists()


def test_agent_books_inspects_and_turns_defects_into_requests(
    client, service_agent, invited, slot, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(service_agent)
    appointment = invited[0]
    url = reverse("service:handover-appointment", args=[appointment.pk])
    client.post(
        reverse("service:handover-book", args=[appointment.pk]), {"slot": slot.pk}
    )
    client.post(reverse("service:inspection-start", args=[appointment.pk]))
    items = list(InspectionItem.objects.order_by("position"))
    data = {
        "form-TOTAL_FORMS": len(items),
        "form-INITIAL_FORMS": len(items),
        "form-MIN_NUM_FORMS": 0,
        "form-MAX_NUM_FORMS": 1000,
    }
    for n, item in enumerate(items):
        data[f"form-{n}-id"] = item.pk
        data[f"form-{n}-result"] = "pass"
        data[f"form-{n}-category"] = item.category
        data[f"form-{n}-note"] = ""
    data["form-0-result"] = "defect"
    # A defect without a note is refused and nothing is saved.
    response = client.post(
        reverse("service:inspection-save", args=[appointment.pk]), data
    )
    assert response.status_code == 200 and response.context["formset"].errors[0]
    assert not InspectionItem.objects.filter(result="pass").exists()
    data["form-0-note"] = "入户门锁芯松动"
    data["form-0-photo"] = SimpleUploadedFile("door.svg", b"<svg/>", "image/svg+xml")
    response = client.post(
        reverse("service:inspection-save", args=[appointment.pk]), data
    )
    assert response.context["formset"].errors[0]["photo"]
    data["form-0-photo"] = SimpleUploadedFile("door.jpg", b"jpeg", "image/jpeg")
    response = client.post(
        reverse("service:inspection-save", args=[appointment.pk]), data
    )
    assert response.status_code == 302
    assert InspectionItem.objects.filter(result="pass").count() == len(items) - 1
    client.post(reverse("service:inspection-defects", args=[appointment.pk]))
    client.post(reverse("service:inspection-defects", args=[appointment.pk]))
    request = ServiceRequest.objects.get()
    assert request.inspection_item == items[0]
    photo = client.get(reverse("service:inspection-photo", args=[items[0].pk]))
    assert photo.status_code == 200 and "sandbox" in photo["Content-Security-Policy"]
    client.post(reverse("service:handover-complete", args=[appointment.pk]))
    page = client.get(url)
    assert page.context["appointment"].status == "handed_over"
    assert request.number in page.content.decode()
    assert 'data-testid="handover-survey"' in page.content.decode()


def test_phone_numbers_are_masked_for_roles_without_the_right(
    client, executive, invited, batch
):
    client.force_login(executive)
    page = client.get(reverse("service:handover-detail", args=[batch.pk]))
    mobile = invited[0].customer.mobile
    assert mask_phone(mobile) in page.content.decode()
    assert format_phone(mobile) not in page.content.decode()


# Query counts ----------------------------------------------------------------------


def test_handover_pages_do_not_grow_queries_with_rows(
    client, service_agent, batch, invited, slot, building, consultant
):
    client.force_login(service_agent)
    appointment = invited[0]
    inspection = handover.inspection_start(actor=service_agent, appointment=appointment)
    hours = iter(range(12, 20))

    def grow():
        unit = building.units.filter(status="available").first()
        sell(unit, consultant)
        handover.batch_invite(actor=service_agent, batch=batch)
        other = batch.appointments.filter(slot__isnull=True).exclude(pk=appointment.pk)
        if slot.appointments.count() < slot.capacity:
            handover.appointment_book(
                actor=service_agent, appointment=other.first(), slot=slot
            )
        handover.slot_add(
            actor=service_agent,
            batch=batch,
            day=batch.starts_on,
            starts_at=time(next(hours)),
            ends_at=time(21),
            capacity=5,
        )
        HandoverBatch.objects.create(
            building=building,
            name="另一批",
            starts_on=batch.starts_on,
            ends_on=batch.ends_on,
            created_by=service_agent,
        )
        position = inspection.items.filter(result="unchecked").first().position
        InspectionItem.objects.filter(inspection=inspection, position=position).update(
            result="defect", note="问题"
        )
        handover.defects_to_requests(actor=service_agent, inspection=inspection)

    for url in (
        reverse("service:handover-list"),
        reverse("service:handover-detail", args=[batch.pk]),
        reverse("service:handover-appointment", args=[appointment.pk]),
    ):
        assert_queries_do_not_grow(lambda url=url: client.get(url), grow, at_most=25)


def test_handover_and_survey_rows_follow_a_customer_merge_and_its_undo(
    invited, service_agent, sales_manager
):
    from customers.services.merge import customer_merge, customer_merge_restore
    from service import surveys
    from service.models import SurveyResponse
    from tests.factories import CustomerFactory

    appointment = invited[0]
    absorbed = appointment.customer
    handover.handover_complete(actor=service_agent, appointment=appointment)
    invitation = SurveyInvitation.objects.get(appointment=appointment)
    surveys.survey_submit(
        invitation=invitation,
        scores={q.pk: 4 for q in surveys.questions_of(invitation)},
        comment="",
    )
    survivor = CustomerFactory()
    record = customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
    )
    rows = (HandoverAppointment, SurveyInvitation, SurveyResponse)
    for model in rows:
        assert {
            row.customer_id
            for row in model.objects.filter(customer__in=[absorbed, survivor])
        } == {survivor.pk}
    customer_merge_restore(actor=sales_manager, record=record)
    for model in rows:
        assert {
            row.customer_id
            for row in model.objects.filter(customer__in=[absorbed, survivor])
        } == {absorbed.pk}


# The owner's booking link -------------------------------------------------------------


@pytest.fixture
def later_slot(batch, service_manager):
    return handover.slot_add(
        actor=service_manager,
        batch=batch,
        day=batch.starts_on + timedelta(days=2),
        starts_at=time(9),
        ends_at=time(11),
        capacity=1,
    )


def _booking_url(appointment) -> str:
    return reverse(
        "service:handover-booking", args=[handover.booking_token(appointment)]
    )


def test_the_invitation_carries_the_owners_booking_link(invited, settings):
    notice = HandoverNotice.objects.get(appointment=invited[0])
    handover.notice_send(notice_id=notice.pk)
    assert settings.PUBLIC_BASE_URL + _booking_url(invited[0]) in (
        messaging.sms_outbox[0].text
    )


def test_owner_books_a_slot_online_without_logging_in(
    client, invited, later_slot, slot
):
    url = _booking_url(invited[0])
    page = client.get(url)
    # Today's slot is not offered online any more; the later one is.
    assert page.status_code == 200
    assert list(page.context["slots"]) == [later_slot]
    response = client.post(url, {"slot": slot.pk})
    assert response.status_code == 200 and response.context["form"].errors
    response = client.post(url, {"slot": later_slot.pk})
    assert response.context["reason"] == "booked"
    invited[0].refresh_from_db()
    assert invited[0].slot == later_slot and invited[0].status == "booked"
    assert HandoverNotice.objects.filter(
        appointment=invited[0], kind="confirmation"
    ).exists()
    # The slot is now full: another owner is not offered it.
    other = client.get(_booking_url(invited[1]))
    assert list(other.context["slots"]) == []


def test_booking_link_refuses_tampering_and_closed_bookings(
    client, invited, service_agent
):
    url = _booking_url(invited[0])
    bad = client.get(url[:-3] + "xx/")
    assert bad.status_code == 404 and bad.context["reason"] == "invalid"
    handover.handover_complete(actor=service_agent, appointment=invited[0])
    assert client.get(url).status_code == 410
    today = timezone.localdate()
    HandoverBatch.objects.update(
        starts_on=today - timedelta(days=5), ends_on=today - timedelta(days=1)
    )
    assert client.get(_booking_url(invited[1])).context["reason"] == "closed"


def test_the_booking_page_does_not_grow_queries_with_slots(
    client, invited, batch, service_manager, later_slot
):
    url = _booking_url(invited[0])
    hours = iter(range(8, 18))

    def grow():
        for _n in range(3):
            handover.slot_add(
                actor=service_manager,
                batch=batch,
                day=batch.starts_on + timedelta(days=3),
                starts_at=time(next(hours)),
                ends_at=time(19),
                capacity=2,
            )

    assert_queries_do_not_grow(lambda: client.get(url), grow, at_most=4)


def test_a_second_batch_of_the_building_does_not_invite_the_same_owners_again(
    invited, building, service_manager, batch
):
    second = handover.batch_create(
        actor=service_manager,
        building=building,
        name="第二批",
        starts_on=batch.starts_on,
        ends_on=batch.ends_on,
    )
    assert handover.batch_invite(actor=service_manager, batch=second) == 0


def test_closing_a_batch_stops_online_booking_once(
    client, invited, batch, service_manager
):
    assert handover.batch_close(actor=service_manager, batch=batch)
    assert not handover.batch_close(actor=service_manager, batch=batch)
    response = client.get(_booking_url(invited[0]))
    assert response.status_code == 410 and response.context["reason"] == "closed"


def test_keys_are_not_handed_over_while_a_defect_is_not_yet_a_repair_request(
    invited, service_agent
):
    inspection = _inspect(invited[0], service_agent, defects=1)
    with pytest.raises(ValidationError):
        handover.handover_complete(actor=service_agent, appointment=invited[0])
    handover.defects_to_requests(actor=service_agent, inspection=inspection)
    assert handover.handover_complete(actor=service_agent, appointment=invited[0])


def test_a_defect_becomes_a_repair_of_its_checklist_category(invited, service_agent):
    from service.models import InspectionItem

    inspection = handover.inspection_start(actor=service_agent, appointment=invited[0])
    item = inspection.items.get(item="防水与地漏")
    assert item.category == "plumbing"
    InspectionItem.objects.filter(pk=item.pk).update(
        result=InspectionItem.Result.DEFECT, note="地漏返水"
    )
    (request,) = handover.defects_to_requests(
        actor=service_agent, inspection=inspection
    )
    assert request.category == "plumbing"


def test_the_inspection_is_read_only_once_the_keys_are_handed_over(
    client, invited, service_agent
):
    from service.models import InspectionItem

    appointment = invited[0]
    inspection = handover.inspection_start(actor=service_agent, appointment=appointment)
    handover.handover_complete(actor=service_agent, appointment=appointment)
    client.force_login(service_agent)
    page = client.get(appointment.get_absolute_url()).content.decode()
    assert "disabled" in page and 'data-testid="inspection-form"' in page
    item = inspection.items.first()
    data = {
        "form-TOTAL_FORMS": "1",
        "form-INITIAL_FORMS": "1",
        "form-0-id": item.pk,
        "form-0-result": "defect",
        "form-0-category": "plumbing",
        "form-0-note": "后补",
    }
    client.post(reverse("service:inspection-save", args=[appointment.pk]), data)
    assert InspectionItem.objects.get(pk=item.pk).result == item.result


def test_managers_edit_the_checklist_that_new_inspections_walk(
    client, batch, invited, service_agent, service_manager
):
    url = reverse("service:handover-checklist", args=[batch.pk])
    client.force_login(service_agent)
    assert client.get(url).status_code == 403
    client.force_login(service_manager)
    assert client.get(url).status_code == 200
    rows = len(batch.checklist)
    data = {"rows-TOTAL_FORMS": rows + 3, "rows-INITIAL_FORMS": rows}
    # Two untouched empty rows, as the page sends them.
    data |= {f"rows-{rows + n}-category": "construction" for n in (1, 2)}
    for n, row in enumerate(batch.checklist):
        data |= {f"rows-{n}-{k}": v for k, v in row.items()}
    data[f"rows-{rows - 1}-DELETE"] = "on"
    data |= {f"rows-{rows}-room": "车位", f"rows-{rows}-item": "划线与编号"}
    data[f"rows-{rows}-category"] = "construction"
    bad = data | {"rows-0-room": ""}
    assert client.post(url, bad).status_code == 200  # the error shows next to the row
    batch.refresh_from_db()
    assert len(batch.checklist) == rows
    assert client.post(url, data).status_code == 302
    batch.refresh_from_db()
    assert len(batch.checklist) == rows
    assert batch.checklist[-1] == {
        "room": "车位",
        "item": "划线与编号",
        "category": "construction",
    }
    inspection = handover.inspection_start(actor=service_agent, appointment=invited[0])
    assert inspection.items.order_by("position").last().item == "划线与编号"


def test_a_forged_form_count_builds_no_more_forms_than_the_inspection_has_items(
    client, invited, service_agent
):
    """A POST claiming thousands of rows (or ١٢٣, which int() reads as 123) is
    refused with a message, without building and rendering a form for each."""
    appointment = invited[0]
    inspection = handover.inspection_start(actor=service_agent, appointment=appointment)
    client.force_login(service_agent)
    url = reverse("service:inspection-save", args=[appointment.pk])
    items = inspection.items.count()
    for forged in ("2000", "١٢٣", str(items + 1)):
        data = {"form-TOTAL_FORMS": forged, "form-INITIAL_FORMS": "0"}
        response = client.post(url, data)
        assert response.status_code == 200
        page = response.content.decode()
        assert page.count('data-testid="inspection-item"') <= items
        assert response.context["formset"].non_form_errors()


def test_a_forged_row_count_on_the_checklist_is_refused(client, batch, service_manager):
    url = reverse("service:handover-checklist", args=[batch.pk])
    client.force_login(service_manager)
    response = client.post(url, {"rows-TOTAL_FORMS": "1000", "rows-INITIAL_FORMS": "0"})
    assert response.status_code == 200
    assert len(response.context["formset"].forms) <= 60
    assert response.context["formset"].non_form_errors()
