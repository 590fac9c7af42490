"""Review of the service desk at night: request numbers, overdue lists and GM
letters' deadlines on the Shanghai calendar and clock, a double "Mark resolved", a
refused resolution that keeps what the agent typed, the handover in the
appointment's audit trail."""

from __future__ import annotations

import contextlib
import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from crm_site.audit import audit_entries_for
from crm_site.models import Notification
from crm_site.roles import Role
from service import handover, services, services_work
from service.models import HandoverAppointment, ServiceRequest
from tests.factories import UserFactory

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _received_at(request: ServiceRequest, at: datetime, *, response_hours=2) -> None:
    ServiceRequest.objects.filter(pk=request.pk).update(
        received_at=at,
        response_due=at + timedelta(hours=response_hours),
        resolution_due=at + timedelta(hours=24),
    )
    request.refresh_from_db()


# The request's number carries the day it was logged in Shanghai ---------------------


@pytest.mark.parametrize(
    ("local", "day"),
    [
        (datetime(2026, 1, 2, 0, 10), "20260102"),
        (datetime(2026, 1, 1, 23, 50), "20260101"),
        (datetime(2026, 1, 2, 7, 59), "20260102"),
    ],
)
def test_a_request_is_numbered_with_its_day_in_shanghai(complaint, local, day):
    # 00:10 on 2 January in Shanghai is 16:10 on 1 January in UTC: the number the
    # agent reads to the owner must say the 2nd, as the GM letters' numbers do.
    _received_at(complaint, local.replace(tzinfo=SHANGHAI))
    assert complaint.number == f"KF{day}-{complaint.pk:05d}"


# Overdue: a request nobody answered in time is overdue everywhere -------------------


@pytest.fixture
def unanswered(complaint) -> ServiceRequest:
    """Logged at 21:00 two hours ago, urgent: nobody responded by its response
    deadline (an hour ago); its resolution deadline is still ahead."""
    _received_at(complaint, timezone.now() - timedelta(hours=2), response_hours=1)
    assert complaint.status == "received" and complaint.overdue
    return complaint


def test_the_overdue_tab_lists_a_request_past_its_response_deadline(
    client, service_agent, unanswered
):
    client.force_login(service_agent)
    response = client.get(reverse("service:request-list"), {"view": "overdue"})
    assert [r.pk for r in response.context["page"].items] == [unanswered.pk]
    home = client.get(reverse("service:home"))
    assert home.context["overdue"] == 1


def test_mine_puts_a_request_past_its_response_deadline_first(
    client, service_agent, unanswered, owner_customer
):
    sooner = services.request_create(
        actor=service_agent,
        customer=owner_customer,
        kind="repair",
        category="plumbing",
        severity="urgent",
        channel="phone",
        description="水管爆裂",
    )
    ServiceRequest.objects.filter(pk=sooner.pk).update(
        resolution_due=unanswered.resolution_due - timedelta(hours=1),
        response_due=timezone.now() + timedelta(hours=1),
    )
    client.force_login(service_agent)
    response = client.get(reverse("service:request-list"), {"view": "mine"})
    assert [r.pk for r in response.context["page"].items] == [unanswered.pk, sooner.pk]


def test_the_dashboard_counts_a_request_past_its_response_deadline_overdue(
    unanswered,
):
    from service import dashboard

    today = timezone.localdate()
    board = dashboard.compute(start=today, end=today, project=None)
    assert board.totals["overdue"] == 1


# "Mark resolved" pressed twice at once: the receiver is told once --------------------


@pytest.mark.django_db(transaction=True)
def test_two_agents_resolving_at_once_tell_the_receiver_once(
    complaint, service_agent, service_manager, monkeypatch
):
    other = UserFactory(username="service_manager_2", role=Role.SERVICE_MANAGER)
    services.request_start(actor=service_agent, request=complaint)
    met = threading.Barrier(2)
    locked = services._locked

    def locked_once_both_pressed(request):
        with contextlib.suppress(threading.BrokenBarrierError):
            met.wait(timeout=2.0)
        return locked(request)

    monkeypatch.setattr(services, "_locked", locked_once_both_pressed)

    outcomes: list[str] = []

    def press(user):
        try:
            services.request_resolve(actor=user, request=complaint, note="已修好")
            outcomes.append("resolved")
        except ValidationError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=press, args=(user,))
        for user in (service_manager, other)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused", "resolved"]
    complaint.refresh_from_db()
    assert complaint.status == "resolved"
    assert (
        Notification.objects.filter(
            user=service_agent, event="service.resolved_call_back"
        ).count()
        == 1
    )
    assert complaint.steps.filter(to_status="resolved").count() == 1


def test_a_second_mark_resolved_from_a_stale_page_says_it_was_resolved_already(
    client, complaint, service_agent, service_manager
):
    services.request_start(actor=service_agent, request=complaint)
    services.request_resolve(actor=service_manager, request=complaint, note="已修好")
    client.force_login(service_manager)
    response = client.post(
        reverse("service:request-resolve", args=[complaint.pk]), {"note": "换了阀门"}
    )
    # Not "Saved.": the page again, the refusal on the form, the note typed kept.
    assert response.status_code == 400
    form = response.context["resolve_form"]
    assert form.non_field_errors() and form["note"].value() == "换了阀门"
    page = response.content.decode()
    assert str(form.non_field_errors()[0]) in page and "换了阀门" in page
    assert (
        Notification.objects.filter(
            user=service_agent, event="service.resolved_call_back"
        ).count()
        == 1
    )


# A refused resolution keeps the note typed, its reason next to the form --------------


def test_a_resolve_refused_for_open_work_orders_keeps_the_note_and_says_why(
    client, leak, service_agent
):
    services_work.work_order_create(
        actor=service_agent,
        request=leak,
        task="换阀门",
        assignee_kind="crew",
        crew="一班",
    )
    services.request_start(actor=service_agent, request=leak)
    client.force_login(service_agent)
    note = "业主家中阀门已更换，试水两小时无渗漏"
    response = client.post(
        reverse("service:request-resolve", args=[leak.pk]), {"note": note}
    )
    assert response.status_code == 400
    form = response.context["resolve_form"]
    assert form.non_field_errors() and form["note"].value() == note
    page = response.content.decode()
    assert note in page
    assert str(form.non_field_errors()[0]) in page
    leak.refresh_from_db()
    assert leak.status == "in_progress"


# Handing the keys over is in the appointment's audit trail --------------------------


def test_handing_the_keys_over_is_in_the_appointments_audit_trail(
    invited, service_agent
):
    appointment = invited[0]
    handover.handover_complete(actor=service_agent, appointment=appointment)
    appointment.refresh_from_db()
    assert appointment.status == HandoverAppointment.Status.HANDED_OVER
    entry = audit_entries_for(appointment).first()
    assert entry is not None and entry.actor == service_agent
    assert entry.changes["status"]["new"] == HandoverAppointment.Status.HANDED_OVER


# Odd input -------------------------------------------------------------------------


def test_a_queue_filter_of_thousands_of_digits_is_ignored(client, service_agent):
    client.force_login(service_agent)
    response = client.get(reverse("service:request-list"), {"building": "9" * 5000})
    assert response.status_code == 200


# A letter written just after midnight on Saturday gets its three working days -------


def test_a_letter_written_at_the_weekend_is_not_due_before_one_from_friday_night():
    from service import mailbox

    def due(*args):
        written = datetime(*args, tzinfo=SHANGHAI)
        return mailbox.add_working_days(written, 3, working_only=True)

    friday_night = due(2026, 12, 4, 23, 50)
    saturday_early = due(2026, 12, 5, 0, 10)
    # Twenty minutes later, yet due a day sooner: Monday, Tuesday and ten minutes
    # of Wednesday are not three working days.
    assert saturday_early >= friday_night
    assert timezone.localtime(saturday_early).date() == friday_night.date()
    # From Monday on the hours count again.
    assert due(2026, 12, 7, 0, 10) > saturday_early
