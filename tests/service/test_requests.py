from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone, translation

from crm_site.models import Notification
from customers.models import Interaction
from service import services
from service.models import DeadlineRule, Escalation, ServiceRequest
from tests.helpers import assert_queries_do_not_grow


def test_recording_sets_deadlines_the_receiver_and_the_timeline(
    complaint, service_agent
):
    assert complaint.receiver == service_agent and complaint.status == "received"
    assert complaint.resolution_due - complaint.received_at == timedelta(hours=72)
    assert (
        Interaction.objects.filter(
            customer=complaint.customer, kind="complaint"
        ).count()
        == 1
    )


def test_deadline_rules_by_category_then_severity(db):
    assert services.deadlines_for(category="design", severity="urgent") == (2, 24)
    DeadlineRule.objects.create(
        category="", severity="urgent", response_hours=1, resolution_hours=12
    )
    DeadlineRule.objects.create(
        category="design", severity="urgent", response_hours=3, resolution_hours=48
    )
    assert services.deadlines_for(category="plumbing", severity="urgent") == (1, 12)
    assert services.deadlines_for(category="design", severity="urgent") == (3, 48)


def test_full_workflow_with_transfer_keeps_the_receiver_accountable(
    complaint, service_agent, service_manager
):
    services.request_assign(
        actor=service_agent,
        request=complaint,
        department="engineering",
        handler=service_manager,
    )
    services.request_assign(
        actor=service_manager,
        request=complaint,
        department="contractor",
        handler=None,
        note="转外包",
    )
    complaint.refresh_from_db()
    assert complaint.receiver == service_agent and complaint.department == "contractor"
    services.request_start(actor=service_manager, request=complaint)
    services.request_resolve(
        actor=service_manager, request=complaint, note="已更换水管"
    )
    assert Notification.objects.filter(user=service_agent).exists()
    services.request_callback(
        actor=service_agent, request=complaint, satisfied=True, note="业主满意"
    )
    services.request_close(actor=service_agent, request=complaint)
    complaint.refresh_from_db()
    assert (
        complaint.status == "closed"
        and complaint.responded_at
        and complaint.resolved_at
    )
    assert complaint.steps.count() == 6
    assert complaint.customer.interactions.count() == 7


def test_closing_without_a_callback_is_refused(complaint, service_agent):
    services.request_start(actor=service_agent, request=complaint)
    with pytest.raises(ValidationError):
        services.request_close(actor=service_agent, request=complaint)
    services.request_resolve(actor=service_agent, request=complaint, note="x")
    with pytest.raises(ValidationError):
        services.request_close(actor=service_agent, request=complaint)


@pytest.mark.parametrize(
    ("start", "target"),
    [
        ("received", "resolved"),
        ("received", "closed"),
        ("assigned", "called_back"),
        ("in_progress", "closed"),
        ("resolved", "closed"),
        ("closed", "in_progress"),
        ("called_back", "resolved"),
    ],
)
def test_every_illegal_move_is_refused(complaint, service_agent, start, target):
    ServiceRequest.objects.filter(pk=complaint.pk).update(status=start)
    complaint.refresh_from_db()
    with pytest.raises(ValidationError):
        complaint.move_to(target, actor=service_agent)
    complaint.refresh_from_db()
    assert complaint.status == start


def test_only_the_receiver_or_a_manager_calls_back(
    complaint, service_agent, service_manager, db
):
    from crm_site.roles import Role
    from tests.factories import UserFactory

    colleague = UserFactory(role=Role.SERVICE_AGENT)
    services.request_start(actor=service_agent, request=complaint)
    services.request_resolve(actor=service_agent, request=complaint, note="x")
    with pytest.raises(PermissionDenied):
        services.request_callback(
            actor=colleague, request=complaint, satisfied=True, note="x"
        )
    services.request_callback(
        actor=service_manager, request=complaint, satisfied=True, note="经理回访"
    )


def test_not_satisfied_reopens_and_escalates_to_the_manager(
    complaint, service_agent, service_manager
):
    services.request_start(actor=service_agent, request=complaint)
    services.request_resolve(actor=service_agent, request=complaint, note="x")
    services.request_callback(
        actor=service_agent, request=complaint, satisfied=False, note="还在漏"
    )
    complaint.refresh_from_db()
    assert complaint.status == "in_progress" and complaint.reopen_count == 1
    assert Escalation.objects.get(request=complaint).level == 2
    assert Notification.objects.filter(user=service_manager).exists()


def test_a_reopened_request_is_told_to_whoever_fixed_it(
    complaint, service_agent, service_manager
):
    services.request_assign(
        actor=service_agent,
        request=complaint,
        department="engineering",
        handler=service_manager,
    )
    services.request_start(actor=service_manager, request=complaint)
    services.request_resolve(actor=service_manager, request=complaint, note="x")
    services.request_callback(
        actor=service_agent, request=complaint, satisfied=False, note="还在漏"
    )
    told = Notification.objects.filter(
        user=service_manager, event="service.reopened_for_you"
    ).get()
    assert complaint.number in told.text


def test_escalation_ladder_runs_twice_with_one_effect(
    complaint, service_agent, service_manager, executive
):
    ServiceRequest.objects.filter(pk=complaint.pk).update(
        resolution_due=timezone.now() - timedelta(hours=30),
        response_due=timezone.now() - timedelta(hours=31),
    )
    assert services.escalations_sweep() == 2  # handler, then manager after 24 h
    assert services.escalations_sweep() == 0
    ServiceRequest.objects.filter(pk=complaint.pk).update(
        resolution_due=timezone.now() - timedelta(hours=80)
    )
    assert services.escalations_sweep() == 1
    assert sorted(Escalation.objects.values_list("level", flat=True)) == [1, 2, 3]
    assert Notification.objects.filter(user=executive).count() == 1


def test_an_unanswered_request_climbs_from_its_response_deadline(
    complaint, service_agent, service_manager
):
    """Urgent: answer in 2 h, fix in 24 h. Nobody answered for 28 h: the manager
    hears of it now (24 h past the first deadline missed), not a day later."""
    now = timezone.now()
    ServiceRequest.objects.filter(pk=complaint.pk).update(
        response_due=now - timedelta(hours=28), resolution_due=now - timedelta(hours=6)
    )
    assert services.escalations_sweep(now=now) == 2
    escalations = Escalation.objects.filter(request=complaint)
    assert sorted(escalations.values_list("level", "reason")) == [
        (1, "response_overdue"),
        (2, "response_overdue"),
    ]


def test_a_reopened_request_climbs_from_a_fresh_window(
    complaint, service_agent, service_manager, executive
):
    """Resolved in time, called back four days after its deadline and reopened: the
    handler gets a fresh window to fix it, the executives are not told at once."""
    services.request_start(actor=service_agent, request=complaint)
    services.request_resolve(actor=service_agent, request=complaint, note="修补")
    now = timezone.now()
    ServiceRequest.objects.filter(pk=complaint.pk).update(
        received_at=now - timedelta(days=11),
        response_due=now - timedelta(days=10),
        resolution_due=now - timedelta(days=4),
    )
    complaint.refresh_from_db()
    services.request_callback(
        actor=service_agent, request=complaint, satisfied=False, note="还在漏"
    )

    assert services.escalations_sweep(now=now + timedelta(minutes=10)) == 0
    assert not Escalation.objects.filter(request=complaint, level=3).exists()
    # Late again, the ladder climbs from the new window's end.
    _response, resolution_hours = services.deadlines_for(
        category=complaint.category, severity=complaint.severity
    )
    later = now + timedelta(hours=resolution_hours + 73)
    assert services.escalations_sweep(now=later) == 1
    assert Escalation.objects.filter(request=complaint, level=3).exists()


def test_escalation_task_body(complaint):
    from service.tasks import escalations_sweep

    ServiceRequest.objects.filter(pk=complaint.pk).update(
        response_due=timezone.now() - timedelta(minutes=5)
    )
    assert escalations_sweep() == 1
    assert escalations_sweep() == 0


# Pages --------------------------------------------------------------------------


def test_recording_from_a_call_through_the_page(client, service_agent, owner_customer):
    client.force_login(service_agent)
    response = client.post(
        reverse("service:request-create"),
        {
            "mobile": "136 0013 6000",
            "kind": "complaint",
            "category": "electrical",
            "severity": "normal",
            "channel": "phone",
            "description": "客厅插座没电",
        },
    )
    created = ServiceRequest.objects.get()
    assert response.status_code == 302 and response.url == created.get_absolute_url()
    assert created.receiver == service_agent


@pytest.mark.parametrize(
    "data",
    [
        {"mobile": "12345"},
        {"mobile": "186 9999 0000"},
        {"description": "   "},
        {"category": "bogus"},
    ],
)
def test_bad_input_records_nothing(client, service_agent, owner_customer, data):
    client.force_login(service_agent)
    form = {
        "mobile": "136 0013 6000",
        "kind": "repair",
        "category": "electrical",
        "severity": "normal",
        "channel": "phone",
        "description": "x",
        **data,
    }
    response = client.post(reverse("service:request-create"), form)
    assert response.status_code == 200 and response.context["form"].errors
    assert not ServiceRequest.objects.exists()


def test_pages_through_the_workflow(client, complaint, service_agent, service_manager):
    client.force_login(service_agent)

    def told(response) -> str:
        return " ".join(str(m) for m in response.context["messages"])

    zh = {"HTTP_ACCEPT_LANGUAGE": "zh-hans", "follow": True}
    assigned = client.post(
        reverse("service:request-assign", args=[complaint.pk]),
        {"department": "engineering", "handler": service_manager.pk},
        **zh,
    )
    # Each step says what it did, not only "已保存。".
    assert "已转交给工程部" in told(assigned)
    client.post(reverse("service:request-start", args=[complaint.pk]))
    resolved = client.post(
        reverse("service:request-resolve", args=[complaint.pk]),
        {"note": "修好了"},
        **zh,
    )
    assert "请回访业主" in told(resolved)
    client.post(reverse("service:request-close", args=[complaint.pk]))
    complaint.refresh_from_db()
    assert complaint.status == "resolved"
    client.post(
        reverse("service:request-callback", args=[complaint.pk]),
        {"satisfied": "1", "note": "满意"},
    )
    client.post(
        reverse("service:request-close", args=[complaint.pk]), {"confirmed": "1"}
    )
    complaint.refresh_from_db()
    assert complaint.status == "closed"


def test_a_step_refused_shows_its_error_next_to_the_field_and_keeps_the_input(
    client, complaint, service_agent
):
    # A note of spaces passes the browser's "required" and fails on the server:
    # the page comes back with the error under the field, the answer kept.
    client.force_login(service_agent)
    client.post(reverse("service:request-start", args=[complaint.pk]))
    response = client.post(
        reverse("service:request-resolve", args=[complaint.pk]),
        {"note": "   "},
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    assert response.status_code == 400
    assert response.context["resolve_form"].errors["note"]
    assert "is-invalid" in response.content.decode()
    complaint.refresh_from_db()
    assert complaint.status == "in_progress"
    client.post(
        reverse("service:request-resolve", args=[complaint.pk]), {"note": "修好了"}
    )
    response = client.post(
        reverse("service:request-callback", args=[complaint.pk]),
        {"satisfied": "0", "note": "  "},
    )
    assert response.status_code == 400
    form = response.context["callback_form"]
    assert form.errors["note"] and form["satisfied"].value() == "0"
    assert re.search(
        r'<input[^>]*name="satisfied"[^>]*value="0"[^>]*checked',
        response.content.decode(),
    )
    complaint.refresh_from_db()
    assert complaint.status == "resolved"
    # Said again with words: the step says the request reopened and who is told.
    response = client.post(
        reverse("service:request-callback", args=[complaint.pk]),
        {"satisfied": "0", "note": "还在漏"},
        HTTP_ACCEPT_LANGUAGE="zh-hans",
        follow=True,
    )
    told = " ".join(str(m) for m in response.context["messages"])
    assert "业主不满意" in told and "客服经理" in told


def test_a_step_refused_away_from_its_form_names_the_field_as_the_page_does(
    client, complaint, service_agent
):
    from crm_site.validation import errors_text
    from service.forms import ResolveForm

    form = ResolveForm({"note": " "})
    assert not form.is_valid()
    with translation.override("zh-hans"):
        text = errors_text(form)
    assert "note" not in text and str(form.fields["note"].label) in text


@pytest.mark.parametrize("persona", ["marketer", "outsider"], indirect=True)
def test_service_pages_refuse_other_roles(client, persona, complaint):
    client.force_login(persona)
    for url in (
        reverse("service:request-list"),
        reverse("service:request-create"),
        complaint.get_absolute_url(),
    ):
        assert client.get(url).status_code == 403
    assert (
        client.post(reverse("service:request-start", args=[complaint.pk])).status_code
        == 403
    )


def test_queue_views_and_query_count(client, service_agent, owner_customer, complaint):
    client.force_login(service_agent)
    for view in ("open", "mine", "callback", "overdue", "all"):
        assert (
            client.get(reverse("service:request-list"), {"view": view}).status_code
            == 200
        )

    def grow():
        for n in range(10):
            services.request_create(
                actor=service_agent,
                customer=owner_customer,
                kind="repair",
                category="other",
                severity="low",
                channel="phone",
                description=str(n),
            )

    assert_queries_do_not_grow(
        lambda: client.get(reverse("service:request-list")), grow, at_most=8
    )
    assert_queries_do_not_grow(
        lambda: client.get(complaint.get_absolute_url()), lambda: None, at_most=14
    )


def test_requests_follow_a_merged_owner_and_come_back_on_undo(
    complaint, service_manager, consultant
):
    from customers.services.merge import customer_merge, customer_merge_restore
    from tests.factories import CustomerFactory

    survivor = CustomerFactory(stage="owner", assigned_consultant=consultant)
    record = customer_merge(
        actor=service_manager,
        survivor=survivor,
        absorbed=complaint.customer,
        choices={},
    )
    complaint.refresh_from_db()
    assert complaint.customer == survivor
    customer_merge_restore(actor=service_manager, record=record)
    complaint.refresh_from_db()
    assert complaint.customer != survivor


def test_each_hand_over_is_in_the_audit_trail(service_agent, service_manager):
    """Moving a complaint between departments and people leaves its trace, the
    second hand-over too (its status stays "assigned")."""
    from django.contrib.contenttypes.models import ContentType

    from crm_site.models import AuditEntry
    from service import services as service_services
    from service.models import ServiceRequest as Request
    from tests.factories import CustomerFactory

    request = service_services.request_create(
        actor=service_agent,
        customer=CustomerFactory(stage="owner"),
        kind="complaint",
        category="construction",
        severity="normal",
        channel="phone",
        description="墙面开裂",
    )
    for department, handler in (
        ("engineering", service_agent),
        ("property", service_manager),
    ):
        service_services.request_assign(
            actor=service_agent, request=request, department=department, handler=handler
        )
    changes = list(
        AuditEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(Request),
            object_id=request.pk,
        )
        .order_by("pk")
        .values_list("changes", flat=True)
    )
    departments = [c["department"]["new"] for c in changes if "department" in c]
    assert departments == ["engineering", "property"]
    assert len([c for c in changes if "handler" in c]) == 2


def test_the_queue_says_who_a_request_was_escalated_to_while_it_is_open(
    client, service_agent, complaint
):
    """Not an unexplained "L2", and not on a request already closed."""
    from service.models import ServiceRequest

    ServiceRequest.objects.filter(pk=complaint.pk).update(escalation_level=2)
    client.force_login(service_agent)
    url = reverse("service:request-list")
    page = client.get(url, {"view": "all"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "已升级：客服经理" in page.content.decode()
    ServiceRequest.objects.filter(pk=complaint.pk).update(status="closed")
    page = client.get(url, {"view": "all"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert 'data-testid="escalated"' not in page.content.decode()
