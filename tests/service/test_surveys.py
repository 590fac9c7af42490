from __future__ import annotations

import time as time_module
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail, signing
from django.urls import reverse
from django.utils import timezone, translation

from crm_site import messaging
from customers.models import Customer, Interaction
from service import handover, services, surveys
from service.models import (
    SurveyInvitation,
    SurveyQuestion,
    SurveyReminder,
    SurveyResponse,
)
from service.survey_defaults import active_template
from tests.helpers import assert_queries_do_not_grow
from tests.service.conftest import closed_request

# The index -------------------------------------------------------------------------


def test_index_of_all_top_scores_is_100_and_of_all_bottom_scores_is_0():
    assert surveys.satisfaction_index([(5, Decimal(30)), (5, Decimal(70))]) == 100
    assert surveys.satisfaction_index([(1, Decimal(30)), (1, Decimal(70))]) == 0


def test_index_is_the_weighted_mean_scaled_to_100():
    # 5 → 100 with weight 30, 3 → 50 with weight 70: (3000 + 3500) / 100 = 65.
    assert surveys.satisfaction_index([(5, 30), (3, 70)]) == Decimal("65.00")
    # 4 → 75, 2 → 25, equal weights.
    assert surveys.satisfaction_index([(4, 1), (2, 1)]) == Decimal("50.00")
    # Thirds round half up to two places: (100 + 0 + 75) / 3 = 58.333...
    assert surveys.satisfaction_index([(5, 1), (1, 1), (4, 1)]) == Decimal("58.33")


def test_index_of_nothing_is_none_and_scores_off_the_scale_are_refused():
    assert surveys.satisfaction_index([]) is None
    with pytest.raises(ValueError):
        surveys.satisfaction_index([(6, 1)])
    with pytest.raises(ValueError):
        surveys.satisfaction_index([(0, 1)])


# Invitations -----------------------------------------------------------------------


@pytest.fixture
def closed(service_agent, owner_customer):
    return closed_request(service_agent, owner_customer)


@pytest.fixture
def invitation(closed) -> SurveyInvitation:
    return SurveyInvitation.objects.get(request=closed)


def test_closing_a_request_creates_its_invitation_once(closed):
    invitation = SurveyInvitation.objects.get(request=closed)
    assert invitation.status == "pending" and invitation.due_at <= timezone.now()
    assert surveys.invitation_for_request(closed) == invitation
    assert SurveyInvitation.objects.count() == 1


def test_due_invitations_are_sent_once_even_if_the_job_runs_twice(invitation):
    assert surveys.invitations_send_due() == 1
    assert surveys.invitations_send_due() == 0
    assert surveys.invitation_send(invitation_id=invitation.pk) is False
    assert len(messaging.sms_outbox) == 1
    sms = messaging.sms_outbox[0]
    assert sms.phone == invitation.customer.mobile and "/service/survey/" in sms.text
    invitation.refresh_from_db()
    assert invitation.status == "sent" and invitation.sent_at is not None


def test_an_invitation_not_yet_due_waits(invitation):
    SurveyInvitation.objects.filter(pk=invitation.pk).update(
        due_at=timezone.now() + timedelta(days=2)
    )
    assert surveys.invitations_send_due() == 0 and not messaging.sms_outbox


def test_invitation_goes_by_email_to_an_owner_who_prefers_it(invitation):
    Customer.objects.filter(pk=invitation.customer_id).update(
        preferred_channel="email", email="owner@example.com"
    )
    surveys.invitations_send_due()
    assert mail.outbox[0].to == ["owner@example.com"]
    assert "/service/survey/" in mail.outbox[0].body and not messaging.sms_outbox


def test_no_invitation_to_an_owner_who_refused_service_contact(invitation):
    Customer.objects.filter(pk=invitation.customer_id).update(consent_service=False)
    surveys.invitations_send_due()
    invitation.refresh_from_db()
    assert invitation.status == "skipped" and not messaging.sms_outbox


def test_beat_jobs_queue_one_task_per_due_row_and_the_task_sends_once(
    invitation, monkeypatch
):
    from service import tasks

    queued = []
    monkeypatch.setattr(tasks.survey_invitation_send, "delay", queued.append)
    assert tasks.survey_invitations_send() == 1 and queued == [invitation.pk]
    assert tasks.survey_invitation_send(invitation.pk) is True
    assert tasks.survey_invitation_send(invitation.pk) is False
    assert tasks.survey_invitations_send() == 0
    SurveyInvitation.objects.filter(pk=invitation.pk).update(
        sent_at=timezone.now() - timedelta(days=6)
    )
    reminders = []
    monkeypatch.setattr(tasks.survey_reminder_send, "delay", reminders.append)
    assert tasks.survey_reminders_send() == 1 and reminders == [invitation.pk]
    assert tasks.survey_reminder_send(invitation.pk) is True
    assert tasks.survey_reminder_send(invitation.pk) is False
    assert len(messaging.sms_outbox) == 2


def test_one_reminder_to_owners_who_did_not_answer(invitation, settings):
    surveys.invitations_send_due()
    assert surveys.reminders_send() == 0  # too early
    SurveyInvitation.objects.filter(pk=invitation.pk).update(
        sent_at=timezone.now() - timedelta(days=settings.SURVEY_REMINDER_AFTER_DAYS + 1)
    )
    assert surveys.reminders_send() == 1
    assert surveys.reminders_send() == 0
    assert len(messaging.sms_outbox) == 2
    invitation.refresh_from_db()
    assert invitation.reminded_at is not None


def test_no_reminder_after_an_answer(invitation, settings):
    surveys.invitations_send_due()
    SurveyInvitation.objects.filter(pk=invitation.pk).update(
        sent_at=timezone.now() - timedelta(days=30), answered_at=timezone.now()
    )
    assert surveys.reminders_send() == 0


def test_a_refused_reminder_is_tried_again(invitation, monkeypatch, settings):
    surveys.invitations_send_due()
    SurveyInvitation.objects.filter(pk=invitation.pk).update(
        sent_at=timezone.now() - timedelta(days=settings.SURVEY_REMINDER_AFTER_DAYS + 1)
    )

    def refuse(phone, text, **kwargs):
        raise messaging.SendFailed("down")

    monkeypatch.setattr(messaging, "send_sms", refuse)
    assert surveys.reminders_send() == 0
    monkeypatch.undo()
    # Tried again once its back-off has passed, not before.
    assert surveys.reminders_send() == 0
    later = timezone.now() + timedelta(minutes=2)
    assert surveys.reminders_send(now=later) == 1
    assert surveys.reminders_send(now=later) == 0


def test_no_reminder_whose_link_would_be_dead(invitation, settings):
    # An outage or a backlog: the invitation went out nearly a link's lifetime ago.
    surveys.invitations_send_due()
    long_ago = timezone.now() - timedelta(days=settings.SURVEY_LINK_MAX_AGE_DAYS)
    SurveyInvitation.objects.filter(pk=invitation.pk).update(
        sent_at=long_ago + timedelta(hours=12)
    )
    assert surveys.reminders_plan() == 0
    # A reminder planned in time but sent late (its worker was down) is skipped.
    SurveyInvitation.objects.filter(pk=invitation.pk).update(
        sent_at=timezone.now() - timedelta(days=settings.SURVEY_REMINDER_AFTER_DAYS + 1)
    )
    assert surveys.reminders_plan() == 1
    SurveyInvitation.objects.filter(pk=invitation.pk).update(
        sent_at=long_ago + timedelta(hours=12)
    )
    assert surveys.reminders_send() == 0
    assert SurveyReminder.objects.get().status == "skipped"
    assert len(messaging.sms_outbox) == 1


def test_handover_survey_is_due_days_after_the_handover(
    invited, service_agent, settings
):
    handover.handover_complete(actor=service_agent, appointment=invited[0])
    assert surveys.invitations_send_due() == 0
    SurveyInvitation.objects.update(due_at=timezone.now() - timedelta(minutes=1))
    assert surveys.invitations_send_due() == 1
    invitation = SurveyInvitation.objects.get()
    assert invitation.template.occasion == "handover"


# The questionnaire -----------------------------------------------------------------


def _answers(invitation: SurveyInvitation, score: int = 4) -> dict:
    questions = SurveyQuestion.objects.filter(template=invitation.template)
    return {f"q{q.pk}": score for q in questions} | {"comment": "师傅很专业"}


def test_owner_answers_without_login_and_the_answer_lands_on_the_timeline(
    client, invitation, settings
):
    link = surveys.survey_link(invitation)
    assert link.startswith(settings.PUBLIC_BASE_URL)
    url = link.removeprefix(settings.PUBLIC_BASE_URL)
    page = client.get(url)
    assert page.status_code == 200 and page.context["form"].questions
    response = client.post(url, _answers(invitation, 5))
    assert response.status_code == 302
    assert response.url == reverse("service:survey-thanks")
    assert client.get(response.url).context["reason"] == "thanks"
    answer = SurveyResponse.objects.get()
    assert answer.index == 100 and answer.comment == "师傅很专业"
    assert answer.answers.count() == 3
    entry = Interaction.objects.get(customer=invitation.customer, kind="survey")
    assert entry.event == "service.survey_answered" and entry.params["index"] == "100"
    assert entry.summary == "师傅很专业" and entry.link_id == invitation.request_id
    with translation.override("en"):
        assert entry.text == "Satisfaction survey answered: index 100 · 师傅很专业"


def test_a_link_works_once_then_says_already_answered(client, invitation):
    url = reverse("service:survey-answer", args=[surveys.survey_token(invitation)])
    client.post(url, _answers(invitation, 4))
    again = client.get(url)
    assert again.status_code == 200
    assert again.context["reason"] == "answered"
    client.post(url, _answers(invitation, 1))
    assert SurveyResponse.objects.count() == 1
    assert SurveyResponse.objects.get().index == 75


def test_submitting_twice_in_a_race_keeps_one_answer(invitation):
    scores = {q.pk: 3 for q in surveys.questions_of(invitation)}
    surveys.survey_submit(invitation=invitation, scores=scores, comment="")
    with pytest.raises(surveys.AlreadyAnswered):
        surveys.survey_submit(invitation=invitation, scores=scores, comment="")


def test_an_expired_link_is_refused(client, invitation, settings, monkeypatch):
    url = reverse("service:survey-answer", args=[surveys.survey_token(invitation)])
    later = time_module.time() + (settings.SURVEY_LINK_MAX_AGE_DAYS + 1) * 86400
    monkeypatch.setattr(signing.time, "time", lambda: later)
    response = client.get(url)
    assert response.status_code == 410
    assert response.context["reason"] == "expired"
    assert client.post(url, _answers(invitation)).status_code == 410
    assert not SurveyResponse.objects.exists()


def test_a_reminders_link_ends_with_the_invitations(client, invitation, settings):
    """The reminder carries a link signed days after the invitation's: both end
    SURVEY_LINK_MAX_AGE_DAYS after the invitation was first sent."""
    sent = timezone.now() - timedelta(days=settings.SURVEY_LINK_MAX_AGE_DAYS + 4)
    SurveyInvitation.objects.filter(pk=invitation.pk).update(
        sent_at=sent, due_at=sent, status="sent"
    )
    # Signed now (the reminder's message), well within its own max age.
    url = reverse("service:survey-answer", args=[surveys.survey_token(invitation)])

    response = client.get(url)

    assert response.status_code == 410
    assert response.context["reason"] == "expired"
    assert client.post(url, _answers(invitation)).status_code == 410
    assert not SurveyResponse.objects.exists()


@pytest.mark.parametrize(
    "mangle",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),
        lambda token: signing.dumps(999999, salt=surveys.LINK_SALT),
        lambda token: signing.dumps(1, salt="another.salt"),
        lambda token: "nonsense",
    ],
)
def test_a_tampered_or_unknown_link_is_refused(client, invitation, mangle):
    token = mangle(surveys.survey_token(invitation))
    response = client.get(reverse("service:survey-answer", args=[token]))
    assert response.status_code == 404
    assert response.context["reason"] == "invalid"


def test_a_missing_score_shows_an_error_and_saves_nothing(client, invitation):
    url = reverse("service:survey-answer", args=[surveys.survey_token(invitation)])
    data = _answers(invitation)
    data.pop(next(iter(data)))
    response = client.post(url, data)
    assert response.status_code == 200 and response.context["form"].errors
    assert not SurveyResponse.objects.exists()
    invitation.refresh_from_db()
    assert invitation.answered_at is None


# Figures ---------------------------------------------------------------------------


def _answer(invitation, score, *, months_ago=0):
    scores = {q.pk: score for q in surveys.questions_of(invitation)}
    response = surveys.survey_submit(
        invitation=invitation, scores=scores, comment=f"score {score}"
    )
    when = timezone.now() - timedelta(days=31 * months_ago)
    SurveyResponse.objects.filter(pk=response.pk).update(submitted_at=when)
    return response


def _invitation_for(customer, project=None):
    template = active_template("request_closed")
    request = services.request_create(
        actor=customer.assigned_consultant or _anyone(),
        customer=customer,
        kind="repair",
        category="other",
        severity="low",
        channel="phone",
        description="测试",
    )
    return SurveyInvitation.objects.create(
        template=template,
        customer=customer,
        project=project,
        request=request,
        due_at=timezone.now(),
    )


def _anyone():
    from tests.factories import UserFactory

    return UserFactory()


def test_satisfaction_by_month_per_project(db, building):
    from tests.factories import CustomerFactory

    project = building.project
    scores = [(5, 0), (3, 0), (1, 1)]
    for score, months_ago in scores:
        _answer(
            _invitation_for(CustomerFactory(), project), score, months_ago=months_ago
        )
    _answer(_invitation_for(CustomerFactory(), None), 4)
    rows = surveys.satisfaction_by_month(projects=[project])
    assert [(r["index"], r["answers"]) for r in rows] == [
        (Decimal("0.00"), 1),
        (Decimal("75.00"), 2),
    ]
    assert rows[-1]["project_id"] == project.pk
    assert rows[-1]["project"] == project.name
    assert rows[-1]["month"] == timezone.localdate().replace(day=1)
    assert len(surveys.satisfaction_by_month()) == 3
    assert surveys.satisfaction_by_month(months=1)[-1]["answers"] == 1
    everything = SurveyResponse.objects.filter(project=project)
    assert surveys.satisfaction_index_for(everything) == Decimal("50.00")
    assert surveys.satisfaction_index_for(SurveyResponse.objects.none()) is None


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("service_manager", 200),
        ("executive", 200),
        ("administrator", 200),
        ("service_agent", 403),
        ("consultant", 403),
        ("marketer", 403),
        ("outsider", 403),
    ],
    indirect=["persona"],
)
def test_results_page_for_every_role(client, persona, status):
    client.force_login(persona)
    assert client.get(reverse("service:survey-results")).status_code == status


def test_results_page_shows_the_index_and_does_not_grow_queries(
    client, service_manager, building
):
    from tests.factories import CustomerFactory

    client.force_login(service_manager)
    url = reverse("service:survey-results")

    def grow():
        for score in (5, 4, 2):
            _answer(
                _invitation_for(CustomerFactory(), building.project),
                score,
                months_ago=2,
            )

    _answer(_invitation_for(CustomerFactory(), building.project), 5)
    assert_queries_do_not_grow(lambda: client.get(url), grow, at_most=12)
    page = client.get(url)
    assert page.context["answers"] == 4 and page.context["overall"] == Decimal("75.00")
    assert "score 2" in page.content.decode()


def test_a_request_without_a_unit_counts_for_the_project_the_owner_bought_in(
    service_agent, consultant, building
):
    from tests.service.conftest import sell

    deal = sell(building.units.first(), consultant)
    request = closed_request(service_agent, deal.customer)
    assert request.unit_id is None
    invitation = SurveyInvitation.objects.get(request=request)
    assert invitation.project_id == building.project_id


@pytest.mark.django_db(transaction=True)
def test_two_workers_sending_at_once_send_each_invitation_once(
    service_agent, owner_customer
):
    import threading

    from django.db import connection

    for _n in range(5):
        closed_request(service_agent, owner_customer)
    barrier = threading.Barrier(2)
    results = []

    def worker():
        try:
            barrier.wait()
            results.append(surveys.invitations_send_due())
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results) == 5
    assert len(messaging.sms_outbox) == 5
    assert SurveyInvitation.objects.filter(status="sent").count() == 5


def test_the_questionnaire_costs_a_few_queries_whatever_the_history(
    client, invitation, service_agent, owner_customer
):
    url = reverse("service:survey-answer", args=[surveys.survey_token(invitation)])

    def grow():
        for _n in range(3):
            closed_request(service_agent, owner_customer)

    assert_queries_do_not_grow(lambda: client.get(url), grow, at_most=4)


def test_a_reminder_is_a_row_keyed_by_its_invitation_and_skipped_once_answered(
    invitation, settings
):
    from service.models import SurveyReminder

    surveys.invitations_send_due()
    SurveyInvitation.objects.filter(pk=invitation.pk).update(
        sent_at=timezone.now() - timedelta(days=6)
    )
    assert surveys.reminders_plan() == 1
    assert surveys.reminders_plan() == 0
    reminder = SurveyReminder.objects.get()
    assert reminder.pk == invitation.pk and reminder.status == "pending"
    # The owner answers before the reminder goes: it is not sent.
    SurveyInvitation.objects.filter(pk=invitation.pk).update(answered_at=timezone.now())
    assert surveys.reminder_send(invitation_id=invitation.pk) is False
    reminder.refresh_from_db()
    assert reminder.status == "skipped" and len(messaging.sms_outbox) == 1
