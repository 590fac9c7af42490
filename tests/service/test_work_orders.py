from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone, translation

from crm_site.models import AuditEntry
from crm_site.roles import Role
from customers.models import Interaction
from service import services, services_work
from service.models import (
    Chargeback,
    Contractor,
    ServiceRequest,
    ServiceStep,
    WorkOrder,
)
from service.selectors import contractor_scorecards
from tests.factories import UserFactory
from tests.helpers import assert_queries_do_not_grow

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
    b"\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01"
    b"\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


def _to_contractor(actor, request, contractor, **extra) -> WorkOrder:
    return services_work.work_order_create(
        actor=actor,
        request=request,
        task="重做防水",
        assignee_kind="contractor",
        contractor=contractor,
        **extra,
    )


def test_handing_to_a_contractor_keeps_the_receiver_accountable(
    leak, contractor, service_agent, service_manager
):
    work = _to_contractor(service_manager, leak, contractor, cost=Decimal("500"))
    leak.refresh_from_db()
    assert work.status == "open" and work.due_at == leak.resolution_due
    assert leak.status == "assigned" and leak.department == "contractor"
    assert leak.receiver == service_agent
    handed = ServiceStep.objects.get(request=leak, event="service.handed_to")
    assert handed.params == {"who": {"name": contractor.name}} and handed.note == ""
    step = ServiceStep.objects.get(request=leak, event="service.work_order_created")
    assert step.params["pk"] == str(work.pk) and step.params["task"] == work.task
    line = Interaction.objects.get(
        customer=leak.customer, event="service.work_order_step"
    )
    assert line.params["step"] == {"event": step.event, "params": step.params}
    with translation.override("en"):
        assert line.text == (
            f"Repair request {leak.number}: Work order WO{work.pk} to {contractor.name}: "
            f"{work.task}"
        )
    assert AuditEntry.objects.filter(
        object_id=work.pk, action="create", content_type__model="workorder"
    ).exists()


def test_a_work_order_with_an_appointment_is_scheduled_and_signed_off(
    leak, contractor, service_agent
):
    work = _to_contractor(
        service_agent, leak, contractor, appointment_at=timezone.now()
    )
    assert work.status == "scheduled"
    photo = SimpleUploadedFile("site.png", PNG, content_type="image/png")
    work = services_work.work_order_sign_off(
        actor=service_agent,
        work_order=work,
        note="闭水试验通过",
        photo=photo,
        cost=Decimal("800"),
    )
    assert work.status == "done" and work.signed_off_at and work.on_time
    assert work.signoff_photo.name.startswith("work_orders/")
    assert work.cost == Decimal("800")
    signed = Interaction.objects.get(customer=leak.customer, summary="闭水试验通过")
    assert signed.params["step"]["event"] == "service.work_order_signed_off"
    with translation.override("en"):
        assert signed.text.endswith(f"Work order WO{work.pk} signed off · 闭水试验通过")
    # Signing off twice does nothing.
    services_work.work_order_sign_off(actor=service_agent, work_order=work, note="x")
    assert (
        ServiceStep.objects.filter(event="service.work_order_signed_off").count() == 1
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"assignee_kind": "contractor", "contractor": None},
        {"assignee_kind": "department", "department": "contractor"},
        {"assignee_kind": "department", "department": ""},
        {"assignee_kind": "crew", "crew": "  "},
        {"assignee_kind": "bogus"},
        {"assignee_kind": "crew", "crew": "维修一班", "task": "  "},
    ],
)
def test_work_order_refuses_an_unclear_assignee_or_task(leak, service_agent, kwargs):
    with pytest.raises(ValidationError):
        services_work.work_order_create(
            actor=service_agent, request=leak, **{"task": "修", **kwargs}
        )
    assert not WorkOrder.objects.exists()


def test_inactive_contractors_and_finished_requests_get_no_work(
    leak, contractor, service_agent
):
    Contractor.objects.filter(pk=contractor.pk).update(active=False)
    contractor.refresh_from_db()
    with pytest.raises(ValidationError):
        _to_contractor(service_agent, leak, contractor)
    ServiceRequest.objects.filter(pk=leak.pk).update(status="resolved")
    with pytest.raises(ValidationError):
        services_work.work_order_create(
            actor=service_agent,
            request=leak,
            task="x",
            assignee_kind="crew",
            crew="一班",
        )


def test_status_flow_refuses_illegal_moves(leak, contractor, service_agent):
    work = _to_contractor(service_agent, leak, contractor)
    with pytest.raises(ValidationError):  # open cannot be signed off
        services_work.work_order_sign_off(
            actor=service_agent, work_order=work, note="x"
        )
    with pytest.raises(ValidationError):
        services_work.work_order_cancel(actor=service_agent, work_order=work, reason="")
    services_work.work_order_cancel(actor=service_agent, work_order=work, reason="重复")
    assert not services_work.work_order_cancel(
        actor=service_agent, work_order=work, reason="again"
    ).cancel_reason.startswith("again")
    with pytest.raises(ValidationError):
        services_work.work_order_schedule(
            actor=service_agent, work_order=work, appointment_at=timezone.now()
        )


def test_sign_off_needs_a_note(leak, contractor, service_agent):
    work = _to_contractor(
        service_agent, leak, contractor, appointment_at=timezone.now()
    )
    with pytest.raises(ValidationError):
        services_work.work_order_sign_off(
            actor=service_agent, work_order=work, note=" "
        )
    work.refresh_from_db()
    assert work.status == "scheduled"


def test_a_request_is_not_resolved_while_work_is_pending(
    leak, contractor, service_agent
):
    work = _to_contractor(service_agent, leak, contractor)
    services.request_start(actor=service_agent, request=leak)
    with pytest.raises(ValidationError):
        services.request_resolve(actor=service_agent, request=leak, note="x")
    services_work.work_order_cancel(
        actor=service_agent, work_order=work, reason="不用了"
    )
    services.request_resolve(actor=service_agent, request=leak, note="x")


# Scorecard ---------------------------------------------------------------------------


def _done(request, contractor, user, *, late: bool = False) -> WorkOrder:
    now = timezone.now()
    return WorkOrder.objects.create(
        request=request,
        task="修",
        assignee_kind="contractor",
        department="contractor",
        contractor=contractor,
        status="done",
        due_at=now - timedelta(days=1) if late else now + timedelta(days=1),
        signed_off_at=now - timedelta(hours=6),
        created_by=user,
    )


def test_scorecard_arithmetic(make_request, contractor, service_agent):
    requests = [make_request() for _ in range(4)]
    for n, request in enumerate(requests):
        _done(request, contractor, service_agent, late=n == 3)
    # Callbacks: two satisfied, one not; the fourth not called back yet.
    ServiceRequest.objects.filter(pk__in=[r.pk for r in requests[:2]]).update(
        satisfied=True
    )
    ServiceRequest.objects.filter(pk=requests[2].pk).update(satisfied=False)
    # Request 2 reopened after the work; request 3 was reopened before it.
    ServiceRequest.objects.filter(pk=requests[2].pk).update(
        reopen_count=1, reopened_at=timezone.now()
    )
    ServiceRequest.objects.filter(pk=requests[3].pk).update(
        reopen_count=1, reopened_at=timezone.now() - timedelta(days=3)
    )
    other = Contractor.objects.create(name="无活", trade="水电")
    WorkOrder.objects.create(
        request=requests[0],
        task="待办",
        assignee_kind="contractor",
        department="contractor",
        contractor=contractor,
        due_at=timezone.now(),
        created_by=service_agent,
    )
    cards = list(contractor_scorecards())
    card = cards[0]
    assert card == contractor and cards[1] == other and other.pk == cards[1].pk
    assert (card.done_count, card.pending_count, card.on_time_count) == (4, 1, 3)
    assert card.reopened_count == 1 and card.reopen_rate == pytest.approx(0.25)
    assert card.on_time_rate == pytest.approx(0.75)
    assert (card.satisfied_count, card.called_back) == (2, 3)
    assert card.satisfaction == pytest.approx(2 / 3)
    assert card.score == pytest.approx(40 * 0.75 + 30 * 0.75 + 30 * 2 / 3)
    assert cards[1].score is None and cards[1].done_count == 0


def test_contractor_ranking_puts_the_better_one_first(
    make_request, contractor, service_agent
):
    slow = Contractor.objects.create(name="慢工", trade="水电")
    _done(make_request(), slow, service_agent, late=True)
    _done(make_request(), contractor, service_agent)
    assert [c.name for c in contractor_scorecards()] == ["安居防水", "慢工"]


# Chargebacks -------------------------------------------------------------------------


@pytest.fixture
def finished(leak, contractor, service_agent):
    work = _to_contractor(
        service_agent, leak, contractor, appointment_at=timezone.now()
    )
    return services_work.work_order_sign_off(
        actor=service_agent, work_order=work, note="完工"
    )


def test_chargeback_within_warranty_then_recovered_once(
    finished, make_request, service_manager, units
):
    later = make_request(unit=units[0])
    chargeback = services_work.chargeback_create(
        actor=service_manager,
        work_order=finished,
        request=later,
        amount=Decimal("300.00"),
        reason="又漏了",
    )
    assert chargeback.status == "due" and chargeback.contractor == finished.contractor
    assert services_work.chargeback_recover(
        actor=service_manager, chargeback=chargeback
    )
    assert not services_work.chargeback_recover(
        actor=service_manager, chargeback=chargeback
    )
    chargeback.refresh_from_db()
    assert chargeback.status == "recovered" and chargeback.recovered_at
    with pytest.raises(ValidationError):  # the same defect twice
        services_work.chargeback_create(
            actor=service_manager,
            work_order=finished,
            request=later,
            amount=Decimal("1"),
            reason="x",
        )


def test_chargeback_after_the_warranty_is_refused(
    finished, make_request, service_manager
):
    WorkOrder.objects.filter(pk=finished.pk).update(
        signed_off_at=timezone.now() - timedelta(days=800)
    )
    finished.refresh_from_db()
    with pytest.raises(ValidationError, match="保修期"):
        services_work.chargeback_create(
            actor=service_manager,
            work_order=finished,
            request=finished.request,
            amount=Decimal("100"),
            reason="x",
        )
    # Within 24 months of the sign-off it is still allowed.
    WorkOrder.objects.filter(pk=finished.pk).update(
        signed_off_at=timezone.now() - timedelta(days=700)
    )
    finished.refresh_from_db()
    services_work.chargeback_create(
        actor=service_manager,
        work_order=finished,
        request=finished.request,
        amount=Decimal("100"),
        reason="x",
    )


def test_chargeback_refuses_unfinished_work_and_earlier_requests(
    leak, contractor, make_request, service_manager, service_agent
):
    earlier = make_request(days_ago=5)
    work = _to_contractor(
        service_agent, leak, contractor, appointment_at=timezone.now()
    )
    with pytest.raises(ValidationError):
        services_work.chargeback_create(
            actor=service_manager,
            work_order=work,
            request=leak,
            amount=Decimal("1"),
            reason="x",
        )
    services_work.work_order_sign_off(actor=service_agent, work_order=work, note="ok")
    work.refresh_from_db()
    with pytest.raises(ValidationError):
        services_work.chargeback_create(
            actor=service_manager,
            work_order=work,
            request=earlier,
            amount=Decimal("1"),
            reason="x",
        )
    assert not Chargeback.objects.exists()


# Pages -------------------------------------------------------------------------------


def test_creating_scheduling_and_signing_off_through_the_pages(
    client, leak, contractor, service_agent
):
    client.force_login(service_agent)
    response = client.post(
        reverse("service:work-order-create", args=[leak.pk]),
        {
            "task": "重做防水",
            "assignee_kind": "contractor",
            "contractor": contractor.pk,
            "cost": "500",
        },
    )
    assert response.status_code == 302
    work = WorkOrder.objects.get()
    client.post(
        reverse("service:work-order-schedule", args=[work.pk]),
        {"appointment_at": "2030-01-02T09:30"},
    )
    work.refresh_from_db()
    assert work.status == "scheduled" and work.appointment_at.year == 2030
    client.post(
        reverse("service:work-order-sign-off", args=[work.pk]),
        {
            "note": "业主签字",
            "photo": SimpleUploadedFile("a.png", PNG, content_type="image/png"),
        },
    )
    work.refresh_from_db()
    assert work.status == "done" and work.signoff_photo
    photo = client.get(reverse("service:work-order-photo", args=[work.pk]))
    assert photo.status_code == 200 and b"".join(photo.streaming_content) == PNG
    assert photo["Content-Type"] == "image/png"
    page = client.get(leak.get_absolute_url())
    assert f"WO{work.pk}" in page.content.decode()


@pytest.mark.parametrize(
    "data",
    [
        {"assignee_kind": "contractor"},
        {"assignee_kind": "crew", "crew": ""},
        {"task": ""},
        {"cost": "-5"},
    ],
)
def test_bad_work_order_input_shows_errors_and_saves_nothing(
    client, leak, service_agent, data
):
    client.force_login(service_agent)
    response = client.post(
        reverse("service:work-order-create", args=[leak.pk]),
        {"task": "修", "assignee_kind": "crew", "crew": "一班", **data},
    )
    assert response.status_code == 400
    assert response.context["work_order_form"].errors
    assert not WorkOrder.objects.exists()


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("a.exe", "application/x"), ("page.html", "image/png"), ("noext", "image/png")],
)
def test_a_non_image_sign_off_photo_is_refused(
    client, leak, contractor, service_agent, name, content_type
):
    work = _to_contractor(
        service_agent, leak, contractor, appointment_at=timezone.now()
    )
    client.force_login(service_agent)
    client.post(
        reverse("service:work-order-sign-off", args=[work.pk]),
        {
            "note": "ok",
            "photo": SimpleUploadedFile(name, b"<script>", content_type=content_type),
        },
    )
    work.refresh_from_db()
    assert work.status == "scheduled"


def test_contractor_pages_and_chargeback_form(
    client, finished, make_request, service_manager, units
):
    contractor = finished.contractor
    later = make_request(unit=units[0])
    client.force_login(service_manager)
    assert client.get(reverse("service:contractor-list")).status_code == 200
    response = client.post(
        reverse("service:chargeback-create", args=[contractor.pk]),
        {
            "work_order": finished.pk,
            "request_number": later.pk,
            "amount": "200",
            "reason": "返修",
        },
    )
    assert response.status_code == 302
    response = client.post(
        reverse("service:chargeback-create", args=[contractor.pk]),
        {
            "work_order": finished.pk,
            "request_number": 999999,
            "amount": "1",
            "reason": "x",
        },
    )
    assert response.status_code == 400
    assert response.context["chargeback_form"].errors["request_number"]
    assert Chargeback.objects.count() == 1
    response = client.post(
        reverse("service:contractor-create"),
        {"name": "新承包商", "trade": "门窗", "warranty_months": "12", "active": "on"},
    )
    assert response.status_code == 302 and Contractor.objects.filter(name="新承包商")


@pytest.mark.parametrize(
    "persona", ["consultant", "marketer", "outsider"], indirect=True
)
def test_work_pages_refuse_other_roles(client, persona, finished):
    client.force_login(persona)
    contractor = finished.contractor
    for url in (
        reverse("service:work-order-list"),
        reverse("service:contractor-list"),
        contractor.get_absolute_url(),
        reverse("service:work-order-photo", args=[finished.pk]),
    ):
        assert client.get(url).status_code == 403, url
    for url in (
        reverse("service:work-order-create", args=[finished.request_id]),
        reverse("service:work-order-cancel", args=[finished.pk]),
        reverse("service:chargeback-create", args=[contractor.pk]),
    ):
        assert client.post(url).status_code == 403, url


def test_agents_see_contractors_but_do_not_manage_them(client, finished, service_agent):
    client.force_login(service_agent)
    contractor = finished.contractor
    assert client.get(contractor.get_absolute_url()).status_code == 200
    assert client.get(reverse("service:contractor-create")).status_code == 403
    assert (
        client.post(
            reverse("service:chargeback-create", args=[contractor.pk])
        ).status_code
        == 403
    )


def test_work_lists_do_not_grow_queries(
    client, make_request, contractor, service_manager, units
):
    client.force_login(service_manager)
    names = itertools.count()

    def grow():
        for n in range(6):
            request = make_request(unit=units[n % len(units)])
            _done(request, contractor, service_manager)
            extra = Contractor.objects.create(name=f"c{next(names)}", trade="x")
            _done(request, extra, service_manager)
            _to_contractor(service_manager, request, contractor)

    for url, at_most in (
        (reverse("service:work-order-list"), 8),
        (reverse("service:work-order-list") + "?view=done", 8),
        (reverse("service:contractor-list"), 8),
        (contractor.get_absolute_url(), 12),
    ):
        assert_queries_do_not_grow(
            lambda url=url: client.get(url), grow, at_most=at_most
        )


def test_request_page_with_work_orders_does_not_grow_queries(
    client, leak, contractor, service_agent
):
    client.force_login(service_agent)

    def grow():
        for _ in range(5):
            _to_contractor(service_agent, leak, contractor)

    assert_queries_do_not_grow(
        lambda: client.get(leak.get_absolute_url()), grow, at_most=20
    )


def test_the_ranking_is_cached_until_a_contractor_changes(
    client, make_request, contractor, service_manager
):
    client.force_login(service_manager)
    url = reverse("service:contractor-list")
    assert [c.name for c in client.get(url).context["page"].items] == ["安居防水"]
    Contractor.objects.create(name="后来的", trade="x")
    assert len(client.get(url).context["page"].items) == 1
    client.post(
        reverse("service:contractor-edit", args=[contractor.pk]),
        {"name": "安居防水", "trade": "防水", "warranty_months": "36", "active": "on"},
    )
    assert len(client.get(url).context["page"].items) == 2


# Who signs the work off ----------------------------------------------------------------


@pytest.fixture
def other_agent(db):
    """An agent of the same desk who is not the request's receiver."""
    return UserFactory(username="service_agent2", role=Role.SERVICE_AGENT)


@pytest.fixture
def scheduled(leak, contractor, service_agent) -> WorkOrder:
    return _to_contractor(
        service_agent, leak, contractor, appointment_at=timezone.now()
    )


def test_an_agent_who_is_not_the_receiver_may_not_sign_the_work_off(
    scheduled, other_agent
):
    with pytest.raises(PermissionDenied):
        services_work.work_order_sign_off(
            actor=other_agent, work_order=scheduled, note="我来签"
        )
    scheduled.refresh_from_db()
    assert scheduled.status == "scheduled" and scheduled.signed_off_by is None
    assert not ServiceStep.objects.filter(
        event="service.work_order_signed_off"
    ).exists()


@pytest.mark.parametrize("persona", ["service_agent", "service_manager"], indirect=True)
def test_the_receiver_or_a_service_manager_signs_the_work_off_on_the_page(
    client, scheduled, persona
):
    client.force_login(persona)
    page = client.get(scheduled.request.get_absolute_url()).content.decode()
    assert 'data-testid="signoff-form"' in page
    response = client.post(
        reverse("service:work-order-sign-off", args=[scheduled.pk]), {"note": "验收"}
    )
    assert response.status_code == 302
    scheduled.refresh_from_db()
    assert scheduled.status == "done" and scheduled.signed_off_by == persona


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("other_agent", 403),  # in scope, not accountable
        ("executive", 403),  # reads the desk, changes nothing
        ("consultant", 403),
        ("marketer", 403),
        ("outsider", 403),
    ],
    indirect=["persona"],
)
def test_sign_off_page_refuses_everyone_else_and_changes_nothing(
    client, scheduled, persona, status
):
    client.force_login(persona)
    response = client.post(
        reverse("service:work-order-sign-off", args=[scheduled.pk]), {"note": "验收"}
    )
    assert response.status_code == status
    scheduled.refresh_from_db()
    assert scheduled.status == "scheduled" and not scheduled.signoff_note


def test_the_request_page_offers_the_sign_off_only_to_whom_may_do_it(
    client, scheduled, other_agent
):
    client.force_login(other_agent)
    page = client.get(scheduled.request.get_absolute_url()).content.decode()
    assert 'data-testid="signoff-form"' not in page
    assert 'data-testid="signoff-by-receiver"' in page


def test_an_unknown_work_order_is_404_for_the_desk(client, service_manager):
    client.force_login(service_manager)
    response = client.post(
        reverse("service:work-order-sign-off", args=[999999]), {"note": "验收"}
    )
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("signed_off", "ends"),
    [
        # 02:00 in Shanghai is the day before in UTC: a month from 31 January is the
        # last day of February there, not 1 March.
        ("2026-01-31T02:00:00+08:00", "2026-02-28T02:00:00+08:00"),
        ("2026-03-31T01:30:00+08:00", "2026-04-30T01:30:00+08:00"),
        ("2026-06-15T23:30:00+08:00", "2026-07-15T23:30:00+08:00"),
    ],
)
def test_the_warranty_ends_on_the_same_local_day_months_later(
    finished, signed_off, ends
):
    # As read from the database: in UTC.
    finished.signed_off_at = datetime.fromisoformat(signed_off).astimezone(UTC)
    finished.contractor.warranty_months = 1
    assert services_work.warranty_end(finished) == datetime.fromisoformat(ends)


def test_a_work_order_cannot_be_due_before_its_appointment():
    from service.forms import WorkOrderForm

    form = WorkOrderForm(
        {
            "task": "更换水龙头",
            "assignee_kind": "department",
            "department": "engineering",
            "appointment_at": "2026-12-06T21:00",
            "due_at": "2026-12-06T20:00",
        }
    )
    assert not form.is_valid() and list(form.errors) == ["due_at"]
