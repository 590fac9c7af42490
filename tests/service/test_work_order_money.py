"""The money of work orders: the cost each step sets is in the audit trail, and a
chargeback is recorded once, for a defect in the same building."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from crm_site.audit import audit_entries_for
from service import services_work
from service.models import Chargeback, WorkOrder
from tests.factories import make_building


def _work(actor, request, contractor, **extra) -> WorkOrder:
    return services_work.work_order_create(
        actor=actor,
        request=request,
        task="重做防水",
        assignee_kind="contractor",
        contractor=contractor,
        **extra,
    )


@pytest.fixture
def finished(leak, contractor, service_agent) -> WorkOrder:
    work = _work(service_agent, leak, contractor, appointment_at=timezone.now())
    return services_work.work_order_sign_off(
        actor=service_agent, work_order=work, note="完工"
    )


def test_work_order_sign_off_audits_the_final_cost(leak, contractor, service_agent):
    work = _work(
        service_agent,
        leak,
        contractor,
        appointment_at=timezone.now(),
        cost=Decimal("500.00"),
    )
    services_work.work_order_sign_off(
        actor=service_agent, work_order=work, note="ok", cost=Decimal("5000.00")
    )
    entry = audit_entries_for(work).first()
    assert entry.actor == service_agent
    assert entry.changes == {
        "status": {"old": "scheduled", "new": "done"},
        "cost": {"old": "500.00", "new": "5000.00"},
    }


def test_work_order_sign_off_at_the_same_cost_records_only_the_status(
    leak, contractor, service_agent
):
    work = _work(
        service_agent,
        leak,
        contractor,
        appointment_at=timezone.now(),
        cost=Decimal("500.00"),
    )
    services_work.work_order_sign_off(
        actor=service_agent, work_order=work, note="ok", cost=Decimal("500.00")
    )
    assert audit_entries_for(work).first().changes == {
        "status": {"old": "scheduled", "new": "done"}
    }


def test_work_order_schedule_audits_the_appointment(leak, contractor, service_agent):
    work = _work(service_agent, leak, contractor)
    when = timezone.now() + timedelta(days=1)
    services_work.work_order_schedule(
        actor=service_agent, work_order=work, appointment_at=when
    )
    changes = audit_entries_for(work).first().changes
    assert changes["status"] == {"old": "open", "new": "scheduled"}
    assert changes["appointment_at"]["old"] == ""
    assert changes["appointment_at"]["new"]


def test_work_order_create_and_cancel_keep_their_audit_entries(
    leak, contractor, service_agent
):
    work = _work(service_agent, leak, contractor)
    services_work.work_order_cancel(actor=service_agent, work_order=work, reason="撤")
    create, cancel = reversed(list(audit_entries_for(work)))
    assert create.action == "create"
    assert create.changes == {"status": {"new": "open"}}
    assert cancel.changes == {"status": {"old": "open", "new": "cancelled"}}


def test_chargeback_create_refuses_a_defect_in_another_building(
    finished, make_request, service_manager
):
    other_unit = make_building(floors=1, per_floor=1).units.get()
    elsewhere = make_request(unit=other_unit)
    with pytest.raises(ValidationError) as refused:
        services_work.chargeback_create(
            actor=service_manager,
            work_order=finished,
            request=elsewhere,
            amount=Decimal("300.00"),
            reason="又漏了",
        )
    assert "request" in refused.value.message_dict
    assert not Chargeback.objects.exists()


def test_chargeback_create_refuses_a_request_without_a_unit(
    finished, make_request, service_manager
):
    nowhere = make_request(unit=None)
    with pytest.raises(ValidationError):
        services_work.chargeback_create(
            actor=service_manager,
            work_order=finished,
            request=nowhere,
            amount=Decimal("300.00"),
            reason="又漏了",
        )


def test_chargeback_create_accepts_another_unit_of_the_same_building(
    finished, make_request, service_manager, units
):
    neighbour = make_request(unit=units[1])
    chargeback = services_work.chargeback_create(
        actor=service_manager,
        work_order=finished,
        request=neighbour,
        amount=Decimal("300.00"),
        reason="楼上渗到楼下",
    )
    assert chargeback.request == neighbour


def test_the_chargeback_form_shows_another_building_on_the_request_field(
    client, finished, make_request, service_manager
):
    elsewhere = make_request(unit=make_building(floors=1, per_floor=1).units.get())
    client.force_login(service_manager)
    response = client.post(
        reverse("service:chargeback-create", args=[finished.contractor_id]),
        {
            "work_order": finished.pk,
            "request_number": elsewhere.pk,
            "amount": "300",
            "reason": "又漏了",
        },
    )
    assert response.status_code == 400
    assert response.context["chargeback_form"].errors["request_number"]
    assert not Chargeback.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_chargeback_create_twice_at_once_records_one_and_refuses_the_other(
    leak, contractor, make_request, units, service_agent, service_manager
):
    work = _work(service_agent, leak, contractor, appointment_at=timezone.now())
    work = services_work.work_order_sign_off(
        actor=service_agent, work_order=work, note="ok"
    )
    later = make_request(unit=units[0])
    held = threading.Event()
    errors: list[BaseException] = []

    def charge() -> Chargeback:
        return services_work.chargeback_create(
            actor=service_manager,
            work_order=work,
            request=later,
            amount=Decimal("300.00"),
            reason="又漏了",
        )

    def first() -> None:
        try:
            with transaction.atomic():
                charge()
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
    try:
        with pytest.raises(ValidationError):
            charge()
    finally:
        thread.join()
    assert not errors, errors
    assert Chargeback.objects.count() == 1
