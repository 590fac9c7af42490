"""Repairs and complaints from the owners' portal, on the service side (issue 14,
item 4): submitting, accepting (one agent wins), messages at each step through the
outbox, the owner's confirmation, rejection and rating."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from django.utils import timezone, translation

from crm_site import messaging, outbox
from crm_site.models import AuditEntry
from crm_site.roles import Role
from customers.models import Interaction
from sales.models import CoBuyer
from service import photos as photo_rules
from service import portal_requests, services, surveys
from service.forms import PortalRequestForm
from service.models import (
    DeadlineRule,
    Escalation,
    PortalNotice,
    RequestPhoto,
    ServiceRequest,
    ServiceStep,
    SurveyInvitation,
    SurveyResponse,
)
from tests.factories import CustomerFactory, UserFactory
from tests.helpers import assert_queries_do_not_grow
from tests.security.world import PNG
from tests.service.conftest import sell


def png(name: str = "leak.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PNG, content_type="image/png")


@pytest.fixture
def home(building, consultant):
    """An owner's unit: the buyer (with SMS consent) and the household ids."""
    deal = sell(
        building.units.order_by("pk").first(),
        consultant,
        consent_service=True,
        mobile="+8613800138001",
    )
    return deal


@pytest.fixture
def household(home):
    return frozenset({home.customer_id})


def submit(home, household, **overrides) -> ServiceRequest:
    fields = {
        "owner": home.customer,
        "household_ids": household,
        "unit": home.unit,
        "kind": "repair",
        "category": "plumbing",
        "description": "厨房水管漏水",
        "photos": [png()],
    }
    return portal_requests.portal_request_submit(**(fields | overrides))


# Submitting ---------------------------------------------------------------------------


def test_an_owners_request_enters_the_desks_queue_from_the_portal(home, household):
    DeadlineRule.objects.create(
        category="plumbing", severity="normal", response_hours=6, resolution_hours=48
    )
    before = timezone.now()
    request = submit(home, household)
    assert request.channel == "portal" and request.receiver is None
    assert request.status == "received" and request.awaiting_acceptance
    assert request.response_due >= before + timedelta(hours=6)
    assert request.resolution_due < before + timedelta(hours=49)
    photo = RequestPhoto.objects.get(request=request)
    assert photo.uploaded_by is None
    entry = Interaction.objects.get(customer=home.customer)
    assert entry.event == "service.portal_request_submitted"
    assert entry.channel == "portal"
    assert ServiceStep.objects.filter(
        request=request, event="service.photos_added"
    ).exists()
    assert AuditEntry.objects.filter(
        object_id=request.pk, action=AuditEntry.Action.CREATE
    ).exists()
    assert request in portal_requests.unaccepted()


def test_a_unit_outside_the_household_is_refused_and_nothing_is_saved(
    home, household, building, consultant
):
    neighbour = sell(building.units.order_by("pk")[1], consultant)
    with pytest.raises(ValidationError) as caught:
        submit(home, household, unit=neighbour.unit)
    assert "unit" in caught.value.message_dict
    assert not ServiceRequest.objects.exists()
    assert not RequestPhoto.objects.exists()


def test_a_co_buyers_household_may_report_for_the_buyers_unit(home, household):
    co_buyer = CustomerFactory()
    CoBuyer.objects.create(opportunity=home, customer=co_buyer)
    request = submit(home, household | {co_buyer.pk}, owner=co_buyer, photos=[])
    assert request.customer == co_buyer and request.unit == home.unit


def test_only_repairs_and_complaints_are_taken_from_the_portal(home, household):
    with pytest.raises(ValidationError):
        submit(home, household, kind="inquiry")


def _form(home, files, **data):
    return PortalRequestForm(
        {
            "unit": home.unit_id,
            "kind": "repair",
            "category": "plumbing",
            "description": "漏水",
            **data,
        },
        {"photos": files} if files is not None else {},
        units=[home.unit],
    )


def test_the_form_takes_up_to_six_photos(home):
    from django.utils.datastructures import MultiValueDict

    def files(n):
        return MultiValueDict({"photos": [png(f"p{i}.png") for i in range(n)]})

    six = PortalRequestForm(
        {
            "unit": home.unit_id,
            "kind": "repair",
            "category": "plumbing",
            "description": "漏水",
        },
        files(6),
        units=[home.unit],
    )
    assert six.is_valid(), six.errors
    assert len(six.cleaned_data["photos"]) == 6
    seven = PortalRequestForm(
        {
            "unit": home.unit_id,
            "kind": "repair",
            "category": "plumbing",
            "description": "漏水",
        },
        files(7),
        units=[home.unit],
    )
    assert not seven.is_valid() and "photos" in seven.errors


def test_the_form_refuses_what_the_desk_refuses(home, monkeypatch):
    not_image = _form(
        home, SimpleUploadedFile("a.svg", b"<svg/>", content_type="image/svg+xml")
    )
    assert not not_image.is_valid() and "photos" in not_image.errors
    monkeypatch.setattr(photo_rules, "MAX_BYTES", 10)
    too_big = _form(home, png())
    assert not too_big.is_valid() and "photos" in too_big.errors
    other_unit = _form(home, None, unit=home.unit_id + 1000)
    assert not other_unit.is_valid() and "unit" in other_unit.errors
    blank = _form(home, None, description="   ")
    assert not blank.is_valid() and "description" in blank.errors


# Accepting ----------------------------------------------------------------------------


def test_the_agent_who_accepts_becomes_the_first_receiver(
    home, household, service_agent
):
    request = submit(home, household)
    accepted = portal_requests.request_accept(actor=service_agent, request=request)
    assert accepted.receiver == service_agent and accepted.accepted_at
    step = ServiceStep.objects.get(request=request, event="service.accepted")
    assert step.actor == service_agent
    assert PortalNotice.objects.filter(step=step).exists()
    # Accepting one's own again changes nothing; another agent is told who has it.
    portal_requests.request_accept(actor=service_agent, request=request)
    assert ServiceStep.objects.filter(event="service.accepted").count() == 1
    other = UserFactory(username="agent2", role=Role.SERVICE_AGENT)
    with pytest.raises(ValidationError):
        portal_requests.request_accept(actor=other, request=request)


def test_work_starts_only_once_someone_accepted_it(home, household, service_agent):
    request = submit(home, household)
    with pytest.raises(ValidationError):
        services.request_start(actor=service_agent, request=request)
    with pytest.raises(ValidationError):
        services.request_assign(
            actor=service_agent, request=request, department="engineering", handler=None
        )
    request.refresh_from_db()
    assert request.status == "received"


@pytest.mark.django_db(transaction=True)
def test_two_agents_accepting_at_once_give_one_receiver(home, household):
    request = submit(home, household)
    agents = [
        UserFactory(username=f"racer{i}", role=Role.SERVICE_AGENT) for i in range(6)
    ]
    barrier = threading.Barrier(len(agents))
    outcomes: list[str] = []

    def attempt(agent):
        try:
            barrier.wait()
            portal_requests.request_accept(actor=agent, request=request)
            outcomes.append("accepted")
        except ValidationError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(a,)) for a in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("accepted") == 1 and outcomes.count("refused") == 5
    request.refresh_from_db()
    assert request.receiver in agents
    assert (
        ServiceStep.objects.filter(request=request, event="service.accepted").count()
        == 1
    )


# Messages at each step ------------------------------------------------------------


def _work_to_resolved(request, agent):
    portal_requests.request_accept(actor=agent, request=request)
    services.request_assign(
        actor=agent, request=request, department="engineering", handler=None
    )
    services.request_start(actor=agent, request=request)
    services.request_resolve(actor=agent, request=request, note="已更换水管")
    request.refresh_from_db()
    return request


def test_every_step_the_desk_takes_is_one_message_sent_once(
    home, household, service_agent, django_capture_on_commit_callbacks
):
    request = submit(home, household)
    with django_capture_on_commit_callbacks() as queued:
        _work_to_resolved(request, service_agent)
    notices = list(PortalNotice.objects.filter(request=request).order_by("pk"))
    # Accepted, assigned, in progress, resolved: a row each, a task queued each.
    assert len(notices) == 4 and len(queued) == 4
    for notice in notices:
        assert portal_requests.notice_send(notice_id=notice.pk) is True
        assert portal_requests.notice_send(notice_id=notice.pk) is False
    assert len(messaging.sms_outbox) == 4
    assert all(m.phone == "+8613800138001" for m in messaging.sms_outbox)
    assert request.number in messaging.sms_outbox[-1].text
    assert set(PortalNotice.objects.values_list("status", flat=True)) == {
        outbox.Status.SENT
    }
    assert portal_requests.notices_pending() == []


def test_the_sweep_sends_a_message_whose_task_was_lost(home, household, service_agent):
    request = submit(home, household)
    portal_requests.request_accept(actor=service_agent, request=request)
    pending = portal_requests.notices_pending()
    assert len(pending) == 1
    assert portal_requests.notice_send(notice_id=pending[0]) is True
    assert portal_requests.notices_pending() == []


def test_a_request_the_desk_recorded_sends_no_portal_message(home, service_agent):
    request = services.request_create(
        actor=service_agent,
        customer=home.customer,
        unit=home.unit,
        kind="repair",
        category="plumbing",
        severity="normal",
        channel="phone",
        description="漏水",
    )
    services.request_start(actor=service_agent, request=request)
    assert not PortalNotice.objects.exists()


# The owner's word at the callback, and the rating -----------------------------------


def test_rejecting_reopens_it_as_a_staff_callback_rejection_does(
    home, household, service_agent, service_manager
):
    mine = _work_to_resolved(submit(home, household), service_agent)
    staff = _work_to_resolved(submit(home, household), service_agent)
    portal_requests.portal_request_reject(
        household_ids=household, request=mine, note="还在漏"
    )
    services.request_callback(
        actor=service_agent, request=staff, satisfied=False, note="还在漏"
    )
    mine.refresh_from_db()
    staff.refresh_from_db()
    for request in (mine, staff):
        assert request.status == "in_progress"
        assert request.satisfied is False and request.reopen_count == 1
        assert request.reopened_at is not None
        assert request.escalation_level == Escalation.Level.MANAGER
        assert request.escalations.get().reason == Escalation.Reason.NOT_SATISFIED
    step = mine.steps.order_by("-pk").first()
    assert step.actor is None and step.event == "service.owner_rejected_fix"
    assert step.note == "还在漏"
    # The owner is not messaged about their own rejection.
    assert not PortalNotice.objects.filter(step=step).exists()
    with pytest.raises(ValidationError):
        portal_requests.portal_request_reject(
            household_ids=household, request=mine, note="  "
        )


def test_confirming_closes_it_and_the_rating_counts_in_satisfaction(
    home, household, service_agent
):
    request = _work_to_resolved(submit(home, household), service_agent)
    portal_requests.portal_request_confirm(household_ids=household, request=request)
    request.refresh_from_db()
    assert request.status == "closed" and request.satisfied is True
    invitation = SurveyInvitation.objects.get(request=request)
    assert invitation.due_at > timezone.now() + timedelta(hours=23)
    assert portal_requests.rating_invitation(request) == invitation
    questions = surveys.questions_of(invitation)
    response = portal_requests.portal_request_rate(
        household_ids=household,
        request=request,
        scores={q.pk: 5 for q in questions},
        comment="师傅很专业",
    )
    assert response.index == 100
    assert surveys.satisfaction_index_for(SurveyResponse.objects.all()) == 100
    assert ServiceStep.objects.filter(request=request, event="service.rated").exists()
    assert Interaction.objects.filter(
        customer=home.customer, event="service.survey_answered"
    ).exists()
    with pytest.raises(surveys.AlreadyAnswered):
        portal_requests.portal_request_rate(
            household_ids=household,
            request=request,
            scores={q.pk: 1 for q in questions},
        )
    # Rated in the portal: the survey message is not sent when it falls due.
    SurveyInvitation.objects.filter(pk=invitation.pk).update(due_at=timezone.now())
    messaging.sms_outbox.clear()
    surveys.invitations_send_due()
    assert messaging.sms_outbox == []
    invitation.refresh_from_db()
    assert invitation.status == outbox.Status.SKIPPED


def test_a_rating_needs_every_question_scored(home, household, service_agent):
    request = _work_to_resolved(submit(home, household), service_agent)
    portal_requests.portal_request_confirm(household_ids=household, request=request)
    with pytest.raises(ValidationError):
        portal_requests.portal_request_rate(
            household_ids=household, request=request, scores={}
        )


def test_another_household_cannot_confirm_or_reject(home, household, service_agent):
    request = _work_to_resolved(submit(home, household), service_agent)
    stranger = frozenset({CustomerFactory().pk})
    with pytest.raises(ServiceRequest.DoesNotExist):
        portal_requests.portal_request_confirm(household_ids=stranger, request=request)
    with pytest.raises(ServiceRequest.DoesNotExist):
        portal_requests.portal_request_reject(
            household_ids=stranger, request=request, note="x"
        )
    request.refresh_from_db()
    assert request.status == "resolved"


def test_the_owner_reads_the_steps_in_plain_words(home, household, service_agent):
    request = _work_to_resolved(submit(home, household), service_agent)
    portal_requests.portal_request_reject(
        household_ids=household, request=request, note="还在漏"
    )
    with translation.override("en"):
        words = [str(step.words) for step in portal_requests.owner_steps(request)]
    assert words[0] == "You sent it in the portal"
    assert "Accepted by the service desk, who stays responsible" in words
    assert "Being worked on" in words
    assert words[-1] == "Not solved yet: being worked on again"
    resolved = [s for s in portal_requests.owner_steps(request) if s.note]
    assert [s.note for s in resolved] == ["已更换水管", "还在漏"]


def test_an_unaccepted_overdue_request_escalates_to_the_whole_desk(
    home, household, service_agent
):
    request = submit(home, household)
    ServiceRequest.objects.filter(pk=request.pk).update(
        response_due=timezone.now() - timedelta(hours=1)
    )
    assert services.escalations_sweep() == 1
    assert service_agent.notifications.filter(event="service.escalated").exists()


# The staff side's screens -----------------------------------------------------------


def test_an_agent_accepts_from_the_request_page(client, home, household, service_agent):
    request = submit(home, household)
    client.force_login(service_agent)
    page = client.get(request.get_absolute_url())
    assert b'data-testid="accept-card"' in page.content
    response = client.post(reverse("service:request-accept", args=[request.pk]))
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.receiver == service_agent


def test_accepting_needs_the_desks_action_right(
    client, home, household, executive, consultant
):
    request = submit(home, household)
    client.force_login(executive)
    assert (
        client.post(reverse("service:request-accept", args=[request.pk])).status_code
        == 403
    )
    # A consultant records requests but works none: 403 before the lookup.
    client.force_login(consultant)
    assert (
        client.post(reverse("service:request-accept", args=[request.pk])).status_code
        == 403
    )
    request.refresh_from_db()
    assert request.receiver is None


def test_an_accepted_request_is_not_taken_over(client, home, household, service_agent):
    request = submit(home, household)
    other = UserFactory(username="agent2", role=Role.SERVICE_AGENT)
    portal_requests.request_accept(actor=other, request=request)
    client.force_login(service_agent)
    response = client.post(
        reverse("service:request-accept", args=[request.pk]),
        follow=True,
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert "already accepted" in response.content.decode()
    request.refresh_from_db()
    assert request.receiver == other


def test_the_queue_shows_portal_requests_to_accept_and_filters_by_channel(
    client, home, household, service_agent
):
    waiting = submit(home, household)
    taken = submit(home, household)
    portal_requests.request_accept(actor=service_agent, request=taken)
    phoned = services.request_create(
        actor=service_agent,
        customer=home.customer,
        unit=home.unit,
        kind="repair",
        category="plumbing",
        severity="normal",
        channel="phone",
        description="漏水",
    )
    client.force_login(service_agent)
    url = reverse("service:request-list")
    to_accept = client.get(url, {"view": "portal"}).context["page"].items
    assert [r.pk for r in to_accept] == [waiting.pk]
    portal = client.get(url, {"view": "open", "channel": "portal"})
    assert {r.pk for r in portal.context["page"].items} == {waiting.pk, taken.pk}
    assert b'data-testid="portal-badge"' in portal.content
    everything = client.get(url, {"view": "open"}).context["page"].items
    assert phoned.pk in {r.pk for r in everything}


def test_the_portal_queue_runs_a_fixed_number_of_queries(
    client, home, household, service_agent
):
    client.force_login(service_agent)
    url = reverse("service:request-list")

    def grow():
        for _ in range(3):
            submit(home, household, photos=[])

    grow()
    assert_queries_do_not_grow(
        lambda: client.get(url, {"view": "portal"}), grow, at_most=16
    )
