"""The general manager's mailbox (总经理信箱, issue 14 item 7): the deadline, the
escalation when it passes, answering, the queue's screens and the figures."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from crm_site.models import AuditEntry
from customers.models import Interaction
from service import dashboard, mailbox, portal_requests
from service.models import MailboxSettings, OwnerLetter, PortalNotice
from tests.helpers import assert_queries_do_not_grow
from tests.service.conftest import sell


@pytest.fixture
def home(building, consultant):
    return sell(building.units.order_by("pk").first(), consultant)


def write(home, **overrides) -> OwnerLetter:
    fields = {
        "owner": home.customer,
        "household_ids": frozenset({home.customer_id}),
        "subject": "小区绿化迟迟未完成",
        "body": "交房半年了，东侧绿化还没有完成，希望给个时间表。",
        "unit": home.unit,
    }
    return mailbox.letter_write(**(fields | overrides))


def local(*args) -> datetime:
    return timezone.make_aware(datetime(*args))


# The deadline ------------------------------------------------------------------------


def test_three_working_days_skip_the_weekend():
    friday = local(2026, 12, 4, 10, 0)
    due = mailbox.add_working_days(friday, 3, working_only=True)
    assert due.date() == date(2026, 12, 9) and due.hour == 10  # Wednesday
    saturday = local(2026, 12, 5, 9, 0)
    assert mailbox.add_working_days(saturday, 3, working_only=True).date() == date(
        2026, 12, 9
    )
    assert mailbox.add_working_days(friday, 3, working_only=False).date() == date(
        2026, 12, 7
    )


def test_a_letter_gets_the_deadline_of_the_settings_row(home, executive):
    letter = write(home)
    expected = mailbox.add_working_days(letter.written_at, 3, working_only=True)
    assert letter.due_at == expected
    settings_row = MailboxSettings.current()
    settings_row.answer_within_days = 1
    settings_row.working_days_only = False
    settings_row.save()
    later = write(home)
    assert later.due_at == later.written_at + timedelta(days=1)
    # Written on the timeline, audited, and the queue's people told.
    assert Interaction.objects.filter(
        customer=home.customer, event="service.letter_written", channel="portal"
    ).exists()
    assert AuditEntry.objects.filter(
        object_id=letter.pk, action=AuditEntry.Action.CREATE
    ).exists()
    assert executive.notifications.filter(event="service.letter_received").count() == 2
    assert letter.project_id == home.unit.building.project_id


def test_a_letter_needs_words_and_a_unit_of_the_household(home, building, consultant):
    with pytest.raises(ValidationError):
        write(home, subject="  ")
    with pytest.raises(ValidationError):
        write(home, body="")
    neighbour = sell(building.units.order_by("pk")[1], consultant)
    with pytest.raises(ValidationError):
        write(home, unit=neighbour.unit)
    assert not OwnerLetter.objects.exists()
    assert write(home, unit=None).unit is None


def test_an_overdue_letter_is_escalated_once(home, executive, service_manager):
    letter = write(home)
    answered = write(home)
    mailbox.letter_answer(actor=executive, letter=answered, answer="已安排")
    assert mailbox.letters_escalate() == 0
    later = letter.due_at + timedelta(minutes=1)
    assert mailbox.letters_escalate(now=later) == 1
    assert mailbox.letters_escalate(now=later + timedelta(hours=1)) == 0
    letter.refresh_from_db()
    assert letter.escalated_at == later
    for user in (executive, service_manager):
        assert user.notifications.filter(event="service.letter_overdue").count() == 1
    # The service escalation sweep runs it.
    OwnerLetter.objects.filter(pk=letter.pk).update(escalated_at=None)
    from service.services import escalations_sweep

    assert escalations_sweep(now=later) == 1


def test_answering_records_who_and_when_and_tells_the_owner(
    home, executive, service_manager, django_capture_on_commit_callbacks
):
    letter = write(home)
    with django_capture_on_commit_callbacks() as queued:
        mailbox.letter_answer(actor=executive, letter=letter, answer="三月底前完成。")
    letter.refresh_from_db()
    assert letter.answered_by == executive and letter.answered_at
    assert letter.answer == "三月底前完成。"
    assert AuditEntry.objects.filter(
        object_id=letter.pk, action=AuditEntry.Action.UPDATE, actor=executive
    ).exists()
    assert Interaction.objects.filter(
        customer=home.customer, event="service.letter_answered"
    ).exists()
    notice = PortalNotice.objects.get(letter=letter)
    assert len(queued) == 1
    assert portal_requests.notice_send(notice_id=notice.pk) is True
    assert portal_requests.notice_send(notice_id=notice.pk) is False
    with pytest.raises(ValidationError):
        mailbox.letter_answer(actor=service_manager, letter=letter, answer="再答")
    letter.refresh_from_db()
    assert letter.answered_by == executive


# Figures -----------------------------------------------------------------------------


def test_the_dashboard_counts_letters_and_the_time_to_answer(
    home, executive, service_manager
):
    quick, slow, late, waiting = (write(home) for _ in range(4))
    now = timezone.now()
    for letter, hours in ((quick, 2), (slow, 10), (late, 100)):
        OwnerLetter.objects.filter(pk=letter.pk).update(
            written_at=now - timedelta(hours=hours + 1),
            due_at=now - timedelta(hours=hours + 1) + timedelta(days=3),
        )
        letter.refresh_from_db()
        mailbox.letter_answer(actor=executive, letter=letter, answer="好")
        OwnerLetter.objects.filter(pk=letter.pk).update(
            answered_at=letter.written_at + timedelta(hours=hours)
        )
    OwnerLetter.objects.filter(pk=waiting.pk).update(due_at=now - timedelta(hours=1))
    today = timezone.localdate()
    board = dashboard.compute(start=today - timedelta(days=30), end=today, project=None)
    figures = board.letters
    assert (figures.received, figures.answered, figures.answered_late) == (4, 3, 1)
    assert (figures.open, figures.overdue) == (1, 1)
    assert figures.median_hours == 10.0
    assert figures.average_hours == round((2 + 10 + 100) / 3, 1)


def test_the_dashboard_page_shows_the_mailbox(client, home, service_manager):
    write(home)
    client.force_login(service_manager)
    page = client.get(reverse("service:dashboard"))
    assert page.status_code == 200
    assert b'data-testid="letter-figures"' in page.content
    assert b'data-testid="letters-received">1<' in page.content


# The staff screens -------------------------------------------------------------------


def test_the_queue_lists_letters_to_answer_for_the_executive(client, home, executive):
    letter = write(home)
    answered = write(home, subject="物业费")
    mailbox.letter_answer(actor=executive, letter=answered, answer="已回复")
    client.force_login(executive)
    url = reverse("service:letter-list")
    assert [x.pk for x in client.get(url).context["page"].items] == [letter.pk]
    answered_view = client.get(url, {"view": "answered"}).context["page"].items
    assert [x.pk for x in answered_view] == [answered.pk]
    assert len(client.get(url, {"view": "all"}).context["page"].items) == 2
    OwnerLetter.objects.filter(pk=letter.pk).update(
        due_at=timezone.now() - timedelta(hours=1)
    )
    overdue = client.get(url, {"view": "overdue"})
    assert [x.pk for x in overdue.context["page"].items] == [letter.pk]
    # Bad filters fall back to the defaults.
    assert client.get(url, {"view": "nonsense", "project": "x"}).status_code == 200
    other = client.get(url, {"view": "all", "project": letter.project_id + 999})
    assert other.context["page"].items == []


def test_the_queue_and_the_letter_need_the_mailbox(client, home, service_agent):
    letter = write(home)
    client.force_login(service_agent)
    assert client.get(reverse("service:letter-list")).status_code == 403
    assert client.get(letter.get_absolute_url()).status_code == 403
    response = client.post(
        reverse("service:letter-answer", args=[letter.pk]), {"answer": "好"}
    )
    assert response.status_code == 403
    letter.refresh_from_db()
    assert letter.answered_at is None


def test_an_unknown_letter_is_404(client, executive):
    client.force_login(executive)
    assert (
        client.get(reverse("service:letter-detail", args=[999999])).status_code == 404
    )


def test_the_service_manager_answers_from_the_letter_page(
    client, home, service_manager
):
    letter = write(home)
    client.force_login(service_manager)
    page = client.get(letter.get_absolute_url())
    assert b'data-testid="answer-form"' in page.content
    response = client.post(
        reverse("service:letter-answer", args=[letter.pk]),
        {"answer": "已与物业沟通，下周完成。"},
    )
    assert response.status_code == 302
    letter.refresh_from_db()
    assert letter.answered_by == service_manager
    shown = client.get(letter.get_absolute_url())
    assert b'data-testid="letter-answer"' in shown.content


def test_an_empty_answer_is_refused_and_nothing_saved(client, home, executive):
    letter = write(home)
    client.force_login(executive)
    response = client.post(
        reverse("service:letter-answer", args=[letter.pk]), {"answer": "   "}
    )
    assert response.status_code == 400
    assert response.context["form"].errors
    letter.refresh_from_db()
    assert letter.answered_at is None and not PortalNotice.objects.exists()


def test_the_queue_runs_a_fixed_number_of_queries(client, home, executive):
    client.force_login(executive)
    url = reverse("service:letter-list")

    def grow():
        for _ in range(3):
            write(home, household_ids=frozenset({home.customer_id}))

    grow()
    assert_queries_do_not_grow(
        lambda: client.get(url, {"view": "all"}), grow, at_most=14
    )


def test_the_letter_page_runs_a_fixed_number_of_queries(
    client, home, executive, django_assert_max_num_queries
):
    letter = write(home)
    client.force_login(executive)
    client.get(letter.get_absolute_url())
    with django_assert_max_num_queries(12):
        assert client.get(letter.get_absolute_url()).status_code == 200
