"""Review of the service desk: steps that must not be skipped, the manager told of
every unhappy owner, contractors' changes audited, nothing done for a cancelled
handover appointment."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from crm_site.audit import audit_entries_for
from crm_site.models import Notification
from service import handover, services
from service.models import (
    Contractor,
    HandoverAppointment,
    Inspection,
    InspectionItem,
    ServiceRequest,
)


def _resolved(agent, request: ServiceRequest) -> ServiceRequest:
    services.request_start(actor=agent, request=request)
    services.request_resolve(actor=agent, request=request, note="已修")
    request.refresh_from_db()
    return request


# "Start work" cannot send a resolved request back past its callback ------------------


def test_start_work_refuses_a_resolved_request_waiting_for_its_callback(
    complaint, service_agent
):
    _resolved(service_agent, complaint)
    with pytest.raises(ValidationError):
        services.request_start(actor=service_agent, request=complaint)
    complaint.refresh_from_db()
    assert complaint.status == "resolved" and complaint.reopen_count == 0


def test_start_work_refuses_a_called_back_request(complaint, service_agent):
    _resolved(service_agent, complaint)
    services.request_callback(
        actor=service_agent, request=complaint, satisfied=True, note="满意"
    )
    with pytest.raises(ValidationError):
        services.request_start(actor=service_agent, request=complaint)
    complaint.refresh_from_db()
    assert complaint.status == "called_back"


def test_a_stale_start_button_leaves_a_resolved_request_as_it_is(
    client, complaint, service_agent, service_manager
):
    """The agent's tab still shows "Start work"; a colleague resolved it meanwhile."""
    _resolved(service_manager, complaint)
    client.force_login(service_agent)
    response = client.post(reverse("service:request-start", args=[complaint.pk]))
    assert response.status_code == 302
    complaint.refresh_from_db()
    assert complaint.status == "resolved"
    assert not complaint.steps.filter(
        from_status="resolved", to_status="in_progress"
    ).exists()


def test_start_work_still_starts_a_received_or_assigned_request(
    complaint, service_agent
):
    services.request_assign(
        actor=service_agent, request=complaint, department="engineering", handler=None
    )
    services.request_start(actor=service_agent, request=complaint)
    complaint.refresh_from_db()
    assert complaint.status == "in_progress"
    # Pressed twice: nothing more.
    services.request_start(actor=service_agent, request=complaint)
    assert complaint.steps.filter(to_status="in_progress").count() == 1


# Every "not satisfied" reaches the service manager -----------------------------------


def test_a_second_not_satisfied_callback_is_told_to_the_service_manager_again(
    complaint, service_agent, service_manager
):
    for _round in range(2):
        _resolved(service_agent, complaint)
        services.request_callback(
            actor=service_agent, request=complaint, satisfied=False, note="还在漏"
        )
    complaint.refresh_from_db()
    assert complaint.reopen_count == 2
    told = Notification.objects.filter(user=service_manager, event="service.escalated")
    assert told.count() == 2


# Contractors: the warranty and the contact are money and personal data ---------------


def test_creating_and_editing_a_contractor_is_audited(client, service_manager):
    client.force_login(service_manager)
    response = client.post(
        reverse("service:contractor-create"),
        {"name": "安居防水", "trade": "防水", "warranty_months": "24", "active": "on"},
    )
    assert response.status_code == 302
    contractor = Contractor.objects.get(name="安居防水")
    assert audit_entries_for(contractor).filter(action="create").exists()
    client.post(
        reverse("service:contractor-edit", args=[contractor.pk]),
        {"name": "安居防水", "trade": "防水", "warranty_months": "6", "active": "on"},
    )
    (entry,) = audit_entries_for(contractor).filter(action="update")
    assert entry.actor == service_manager
    assert entry.changes["warranty_months"] == {"old": "24", "new": "6"}


def test_saving_a_contractor_unchanged_adds_no_audit_entry(client, service_manager):
    contractor = Contractor.objects.create(name="安居防水", trade="防水")
    client.force_login(service_manager)
    client.post(
        reverse("service:contractor-edit", args=[contractor.pk]),
        {"name": "安居防水", "trade": "防水", "warranty_months": "24", "active": "on"},
    )
    assert not audit_entries_for(contractor).exists()


# A cancelled handover appointment (退房, 更名) takes no more steps ------------------


def _cancel(appointment: HandoverAppointment) -> None:
    HandoverAppointment.objects.filter(pk=appointment.pk).update(
        status=HandoverAppointment.Status.CANCELLED
    )
    appointment.refresh_from_db()


def test_no_inspection_starts_for_a_cancelled_appointment(
    client, invited, service_agent
):
    appointment = invited[0]
    _cancel(appointment)
    with pytest.raises(ValidationError):
        handover.inspection_start(actor=service_agent, appointment=appointment)
    client.force_login(service_agent)
    response = client.post(reverse("service:inspection-start", args=[appointment.pk]))
    assert response.status_code == 302
    assert not Inspection.objects.filter(appointment=appointment).exists()


def test_defects_of_a_cancelled_appointment_are_not_turned_into_requests(
    client, invited, service_agent
):
    """The deal was cancelled after the inspection: its former buyer is no owner to
    repair for; the unit's next buyer gets their own inspection."""
    appointment = invited[0]
    inspection = handover.inspection_start(actor=service_agent, appointment=appointment)
    InspectionItem.objects.filter(inspection=inspection, position=1).update(
        result=InspectionItem.Result.DEFECT, note="墙面开裂"
    )
    _cancel(appointment)
    with pytest.raises(ValidationError):
        handover.defects_to_requests(actor=service_agent, inspection=inspection)
    client.force_login(service_agent)
    response = client.post(reverse("service:inspection-defects", args=[appointment.pk]))
    assert response.status_code == 302
    assert not ServiceRequest.objects.exists()
    page = client.get(
        reverse("service:handover-appointment", args=[appointment.pk])
    ).content.decode()
    assert 'data-testid="defects-to-requests"' not in page


# A refused sign-off keeps what the agent typed on site -------------------------------


def test_a_refused_sign_off_photo_keeps_the_note_and_cost_typed(
    client, leak, contractor, service_agent
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from service import services_work

    work = services_work.work_order_create(
        actor=service_agent,
        request=leak,
        task="重做防水",
        assignee_kind="contractor",
        contractor=contractor,
        appointment_at=leak.received_at,
    )
    client.force_login(service_agent)
    response = client.post(
        reverse("service:work-order-sign-off", args=[work.pk]),
        {
            "note": "阀门已更换，业主确认不再漏水",
            "cost": "380.00",
            "photo": SimpleUploadedFile("现场.pdf", b"%PDF-1.4", "application/pdf"),
        },
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "阀门已更换，业主确认不再漏水" in page and "380.00" in page
    # The error is shown next to the work order that failed, its panel open.
    assert page.count('aria-invalid="true"') == 1
    assert (
        f'id="work-order-{work.pk}"' in page and '<details class="mt-2" open>' in page
    )
    work.refresh_from_db()
    assert work.status == "scheduled" and not work.signoff_note


def test_a_refused_cancel_keeps_the_page_and_says_why(
    client, leak, contractor, service_agent
):
    from service import services_work

    work = services_work.work_order_create(
        actor=service_agent,
        request=leak,
        task="重做防水",
        assignee_kind="contractor",
        contractor=contractor,
    )
    client.force_login(service_agent)
    response = client.post(
        reverse("service:work-order-cancel", args=[work.pk]), {"reason": ""}
    )
    assert response.status_code == 400
    work.refresh_from_db()
    assert work.status == "open"
