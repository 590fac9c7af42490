"""Queue numbers and the lottery (排号 / 摇号): sales.services.lottery, the order page
and scripts/verify_lottery.py."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from crm_site import messaging
from crm_site.models import AuditEntry
from sales import tasks
from sales.models import (
    DepositRefund,
    IntentDeposit,
    SelectionSession,
    SessionEntry,
    SessionOrderNotice,
)
from sales.services import lottery
from tests.factories import CustomerFactory
from tests.helpers import assert_queries_do_not_grow
from tests.opening_fixtures import enter, make_deposit, make_session, opening_project

pytestmark = pytest.mark.django_db

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "verify_lottery.py"
DRAFT = SelectionSession.Status.DRAFT


@pytest.fixture(autouse=True)
def _sms_outbox(settings):
    settings.SMS_BACKEND = "crm_site.messaging.LocMemSmsBackend"
    messaging.sms_outbox.clear()
    yield
    messaging.sms_outbox.clear()


@pytest.fixture
def project(db):
    project, _units = opening_project()
    return project


def draft(project, manager, order=SelectionSession.Order.LOTTERY, **extra):
    return make_session(
        project=project, created_by=manager, status=DRAFT, order=order, **extra
    )


def deposits(project, consultant, count):
    return [
        make_deposit(
            project=project,
            consultant=consultant,
            customer=CustomerFactory(assigned_consultant=consultant),
        )
        for _ in range(count)
    ]


def positions(session):
    return list(
        SessionEntry.objects.filter(session=session)
        .order_by("position")
        .values_list("deposit__queue_number", flat=True)
    )


# The draw as anyone recomputes it ---------------------------------------------


def test_the_lottery_order_is_reproducible_from_its_seed():
    numbers = list(range(1, 41))
    seed = "a" * 64
    order = lottery.lottery_order(seed, numbers)
    assert order == lottery.lottery_order(seed, list(reversed(numbers)))
    assert sorted(order) == numbers
    assert order != numbers
    assert lottery.lottery_order("b" * 64, numbers) != order
    expected = sorted(
        numbers, key=lambda n: hashlib.sha256(f"{seed}:{n}".encode()).hexdigest()
    )
    assert order == expected


def test_dropping_a_number_moves_nobody_else():
    seed = "c0ffee" * 10
    order = lottery.lottery_order(seed, range(1, 21))
    assert lottery.lottery_order(seed, [n for n in range(1, 21) if n != 7]) == [
        n for n in order if n != 7
    ]


def test_the_draw_reveals_the_committed_seed_and_the_script_recomputes_the_order(
    project, consultant, sales_manager
):
    deposits(project, consultant, 12)
    session = draft(project, sales_manager)
    assert lottery.session_entries_fill(actor=sales_manager, session=session) == 12
    session = lottery.session_commit_seed(actor=sales_manager, session=session)
    commitment = session.seed_commitment
    assert len(commitment) == 64 and session.drawn_at is None
    # Committing again keeps the seed; the audit trail holds the commitment only.
    again = lottery.session_commit_seed(actor=sales_manager, session=session)
    assert again.seed_commitment == commitment
    assert session.seed not in str(
        list(AuditEntry.objects.values_list("changes", flat=True))
    )
    session = lottery.session_order_set(actor=sales_manager, session=session)
    assert session.status == SelectionSession.Status.ORDERED
    assert session.drawn_at is not None
    assert hashlib.sha256(session.seed.encode()).hexdigest() == commitment
    stored = positions(session)
    assert stored == lottery.lottery_order(session.seed, range(1, 13))
    output = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--seed",
            session.seed,
            "--numbers",
            ",".join(str(n) for n in range(1, 13)),
            "--commitment",
            commitment,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert output[0] == "commitment matches"
    assert [int(line.split()[1]) for line in output[1:]] == stored
    assert [int(line.split()[0]) for line in output[1:]] == list(range(1, 13))
    wrong = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--seed",
            "x",
            "--numbers",
            "1,2",
            "--commitment",
            commitment,
        ],
        capture_output=True,
        text=True,
    )
    assert wrong.returncode == 1


def test_the_seed_is_shown_only_after_the_draw(
    client, project, consultant, sales_manager
):
    deposits(project, consultant, 3)
    session = draft(project, sales_manager)
    lottery.session_entries_fill(actor=sales_manager, session=session)
    session = lottery.session_commit_seed(actor=sales_manager, session=session)
    client.force_login(consultant)
    url = reverse("sales:session-order", args=[session.pk])
    before = client.get(url).content.decode()
    assert session.seed_commitment in before and session.seed not in before
    lottery.session_order_set(actor=sales_manager, session=session)
    after = client.get(url).content.decode()
    assert session.seed in after and "1,2,3" in after


def test_the_list_is_final_once_the_seed_is_committed(
    project, consultant, sales_manager
):
    deposits(project, consultant, 2)
    session = draft(project, sales_manager)
    lottery.session_entries_fill(actor=sales_manager, session=session)
    lottery.session_commit_seed(actor=sales_manager, session=session)
    make_deposit(project=project, consultant=consultant)
    with pytest.raises(ValidationError):
        lottery.session_entries_fill(actor=sales_manager, session=session)
    assert session.entries.count() == 2


def test_no_draw_without_a_commitment(project, consultant, sales_manager):
    deposits(project, consultant, 2)
    session = draft(project, sales_manager)
    lottery.session_entries_fill(actor=sales_manager, session=session)
    with pytest.raises(ValidationError):
        lottery.session_order_set(actor=sales_manager, session=session)
    assert SelectionSession.objects.get(pk=session.pk).status == DRAFT


# Entries, order and slots --------------------------------------------------------


def test_the_fill_enters_only_eligible_deposits(project, consultant, sales_manager):
    project.requires_qualification = True
    project.save()
    qualified, _pending, refunded, asked, elsewhere = [
        make_deposit(project=project, consultant=consultant, qualification=q)
        for q in ["qualified", "pending", "qualified", "qualified", "qualified"]
    ]
    IntentDeposit.objects.filter(pk=refunded.pk).update(status="refunded")
    DepositRefund.objects.create(
        deposit=asked, amount=asked.amount, reason="x", requested_by=consultant
    )
    ordered = make_session(
        project=project,
        created_by=sales_manager,
        status=SelectionSession.Status.ORDERED,
    )
    enter(ordered, elsewhere)
    other_project, _units = opening_project(name="别的盘")
    make_deposit(
        project=other_project, consultant=consultant, qualification="qualified"
    )
    session = draft(project, sales_manager)
    assert lottery.session_entries_fill(actor=sales_manager, session=session) == 1
    assert list(session.entries.values_list("deposit", flat=True)) == [qualified.pk]
    assert lottery.session_entries_fill(actor=sales_manager, session=session) == 0


def test_queue_order_gives_positions_and_slots_in_queue_number_order(
    project, consultant, sales_manager
):
    made = deposits(project, consultant, 4)
    starts = timezone.now().replace(microsecond=0) + timedelta(days=1)
    session = draft(
        project,
        sales_manager,
        order=SelectionSession.Order.QUEUE,
        starts_at=starts,
        minutes_per_buyer=6,
    )
    # Entered out of order: the order follows the queue numbers.
    for deposit in reversed(made):
        SessionEntry.objects.create(session=session, deposit=deposit)
    lottery.session_order_set(actor=sales_manager, session=session)
    entries = list(session.entries.order_by("position"))
    assert [e.deposit.queue_number for e in entries] == [1, 2, 3, 4]
    assert [e.slot_starts_at for e in entries] == [
        starts + timedelta(minutes=6 * i) for i in range(4)
    ]
    assert all(
        e.slot_ends_at - e.slot_starts_at == timedelta(minutes=6) for e in entries
    )


def test_first_come_puts_everyone_at_the_start(project, consultant, sales_manager):
    deposits(project, consultant, 3)
    session = draft(project, sales_manager, order=SelectionSession.Order.FIRST_COME)
    lottery.session_entries_fill(actor=sales_manager, session=session)
    lottery.session_order_set(actor=sales_manager, session=session)
    entries = list(session.entries.order_by("position"))
    assert [e.position for e in entries] == [1, 2, 3]
    assert {e.slot_starts_at for e in entries} == {session.starts_at}


def test_a_deposit_refunded_after_entry_takes_no_place(
    project, consultant, sales_manager
):
    made = deposits(project, consultant, 3)
    session = draft(project, sales_manager, order=SelectionSession.Order.QUEUE)
    lottery.session_entries_fill(actor=sales_manager, session=session)
    IntentDeposit.objects.filter(pk=made[1].pk).update(status="refunded")
    lottery.session_order_set(actor=sales_manager, session=session)
    assert positions(session) == [1, 3]


def test_each_buyer_is_sent_their_number_and_slot_once(
    project, consultant, sales_manager, monkeypatch, django_capture_on_commit_callbacks
):
    deposits(project, consultant, 3)
    session = draft(project, sales_manager, order=SelectionSession.Order.QUEUE)
    lottery.session_entries_fill(actor=sales_manager, session=session)
    queued = []
    monkeypatch.setattr(tasks.session_order_notice_send, "delay", queued.append)
    with django_capture_on_commit_callbacks(execute=True):
        lottery.session_order_set(actor=sales_manager, session=session)
    with django_capture_on_commit_callbacks(execute=True):
        lottery.session_order_set(actor=sales_manager, session=session)
    notices = SessionOrderNotice.objects.all()
    assert notices.count() == 3
    assert sorted(queued) == sorted(notices.values_list("pk", flat=True))
    first = notices.order_by("entry__position").first()
    assert lottery.notice_send(notice_id=first.pk) is True
    assert lottery.notice_send(notice_id=first.pk) is False
    queued.clear()
    assert tasks.session_order_notices_send() == 2
    for pk in queued + queued:
        tasks.session_order_notice_send(pk)
    assert tasks.session_order_notices_send() == 0
    assert len(messaging.sms_outbox) == 3
    text = messaging.sms_outbox[0].text
    entry = first.entry
    assert str(entry.deposit.queue_number) in text
    assert timezone.localtime(entry.slot_starts_at).strftime("%H:%M") in text
    assert entry.deposit.customer.interactions.filter(
        event="sales.session_position"
    ).exists()


# The order page and its actions -------------------------------------------------


def test_a_manager_fills_commits_and_draws_from_the_order_page(
    client, project, consultant, sales_manager
):
    deposits(project, consultant, 4)
    session = draft(project, sales_manager)
    client.force_login(sales_manager)
    page = reverse("sales:session-order", args=[session.pk])
    assert client.get(page).status_code == 200
    # Drawing before the seed is committed is refused with a message.
    client.post(reverse("sales:session-order-set", args=[session.pk]))
    assert SelectionSession.objects.get(pk=session.pk).status == DRAFT
    for name in ("session-fill", "session-commit", "session-order-set"):
        response = client.post(reverse(f"sales:{name}", args=[session.pk]))
        assert response.status_code == 302 and response["Location"] == page
    session.refresh_from_db()
    assert session.status == SelectionSession.Status.ORDERED
    assert positions(session) == lottery.lottery_order(session.seed, [1, 2, 3, 4])
    printed = client.get(page).content.decode()
    assert printed.count('data-testid="order-row"') == 4
    # The command the page prints checks the fingerprint too, and agrees.
    command = re.search(
        r"<code>python3 (scripts/verify_lottery\.py [^<]+)</code>", printed
    )
    assert "--commitment" in command[1]
    checked = subprocess.run(
        [sys.executable, *command[1].split()],
        cwd=SCRIPT.parents[1],
        capture_output=True,
        text=True,
        check=True,
    )
    said, *lines = checked.stdout.splitlines()
    assert said == "commitment matches"
    order = [int(line.split()[1]) for line in lines]
    assert order == lottery.lottery_order(session.seed, [1, 2, 3, 4])
    # And leads back to the session.
    assert reverse("sales:session-detail", args=[session.pk]) in printed
    # Names are masked on the posted order.
    name = IntentDeposit.objects.first().customer.name
    assert name not in printed or len(name) == 1


def test_session_actions_need_the_managers_right_and_an_existing_session(
    client, project, consultant, sales_manager, marketer
):
    deposits(project, consultant, 2)
    session = draft(project, sales_manager)
    client.force_login(consultant)
    for name in ("session-fill", "session-commit", "session-order-set"):
        assert (
            client.post(reverse(f"sales:{name}", args=[session.pk])).status_code == 403
        )
    assert not session.entries.exists()
    client.force_login(marketer)
    assert (
        client.get(reverse("sales:session-order", args=[session.pk])).status_code == 403
    )
    client.force_login(sales_manager)
    assert client.get(reverse("sales:session-order", args=[99999])).status_code == 404
    assert client.post(reverse("sales:session-fill", args=[99999])).status_code == 404
    assert (
        client.get(reverse("sales:session-fill", args=[session.pk])).status_code == 405
    )


def test_the_order_page_queries_do_not_grow(client, project, consultant, sales_manager):
    session = draft(project, sales_manager, order=SelectionSession.Order.QUEUE)
    client.force_login(sales_manager)
    url = reverse("sales:session-order", args=[session.pk])

    def add():
        for deposit in deposits(project, consultant, 3):
            SessionEntry.objects.create(session=session, deposit=deposit)

    add()
    assert_queries_do_not_grow(lambda: client.get(url), add, at_most=15)
