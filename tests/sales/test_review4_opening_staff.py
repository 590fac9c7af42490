"""Opening day on the staff side, as a tired manager at 9 p.m. or a curious
consultant uses it: a double click on "call the next number" calls one buyer, a
session's rule changes and a close's refunds and moves leave an audit trail, a
first-come session opened from draft takes no deposit already used or selecting
elsewhere, and a confirmation prints only for who may see the deal."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils import timezone

from crm_site.models import AuditEntry
from sales.models import DepositRefund, IntentDeposit, SelectionSession
from sales.services import sessions as service
from sales.services.opening import selection_make
from tests.opening_fixtures import enter, make_deposit, make_session, opening_project

pytestmark = pytest.mark.django_db

Status = SelectionSession.Status
TOKEN = "review4-call-next-token-0001"


@pytest.fixture
def opening(sales_manager, team):
    project, units = opening_project(floors=4, per_floor=2)
    project.teams.add(team)
    session = make_session(project=project, created_by=sales_manager)
    return project, units, session


def _audits(instance):
    return AuditEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(instance),
        object_id=instance.pk,
    )


# --- the desk -------------------------------------------------------------------------


def test_a_double_click_on_call_the_next_number_calls_one_buyer(
    client, consultant, sales_manager, opening
):
    project, _units, session = opening
    for _ in range(3):
        enter(session, make_deposit(project=project, consultant=consultant))
    client.force_login(sales_manager)
    console = client.get(reverse("sales:session-console", args=[session.pk]))
    # The call forms carry the one-time token, so a second click is a replay.
    page = console.content.decode()
    call_url = reverse("sales:session-call", args=[session.pk])
    form = page[page.index(f'action="{call_url}"') :]
    assert 'name="submission_token"' in form[: form.index("</form>")]

    url = reverse("sales:session-call", args=[session.pk])
    for _ in range(2):
        client.post(url, {"submission_token": TOKEN})
    session.refresh_from_db()
    assert session.called_position == 1


def test_the_pick_form_of_the_desk_carries_a_one_time_token(
    client, consultant, sales_manager, opening
):
    project, _units, session = opening
    entry = enter(session, make_deposit(project=project, consultant=consultant))
    service.session_call(actor=sales_manager, session=session, position=entry.position)
    client.force_login(consultant)
    page = client.get(reverse("sales:session-console", args=[session.pk]))
    text = page.content.decode()
    pick = text[text.index('id="pick-form"') :]
    assert 'name="submission_token"' in pick[: pick.index("</form>")]


def test_another_consultants_buyers_confirmation_does_not_print_for_a_bystander(
    client, consultant, other_consultant, sales_manager, opening
):
    project, units, session = opening
    entry = enter(session, make_deposit(project=project, consultant=consultant))
    service.session_call(actor=sales_manager, session=session, position=entry.position)
    selection = selection_make(
        session=session, entry=entry, unit=units[0], channel="on_site", actor=consultant
    )
    url = reverse("sales:selection-print", args=[selection.pk])
    # The consultant of the same team who neither chose it nor holds the deal sees
    # the buyer's name masked on the session page: not in full on a printout.
    client.force_login(other_consultant)
    assert client.get(url).status_code == 404
    for who in (consultant, sales_manager):
        client.force_login(who)
        assert client.get(url).status_code == 200


def test_the_consultant_who_chose_at_the_desk_prints_the_confirmation(
    client, consultant, other_consultant, sales_manager, opening
):
    project, units, session = opening
    entry = enter(session, make_deposit(project=project, consultant=consultant))
    service.session_call(actor=sales_manager, session=session, position=entry.position)
    selection = selection_make(
        session=session,
        entry=entry,
        unit=units[0],
        channel="on_site",
        actor=other_consultant,
    )
    client.force_login(other_consultant)
    url = reverse("sales:selection-print", args=[selection.pk])
    assert client.get(url).status_code == 200


# --- audit ----------------------------------------------------------------------------


def test_changing_a_sessions_rules_records_each_rule_changed(sales_manager):
    project, units = opening_project(floors=2, per_floor=2, name="安居·二期")
    session = make_session(
        project=project,
        created_by=sales_manager,
        units=[],
        status=Status.DRAFT,
        order=SelectionSession.Order.LOTTERY,
        starts_at=timezone.now() + timedelta(days=3),
    )
    starts = session.starts_at + timedelta(hours=2)
    service.session_update(
        actor=sales_manager,
        session=session,
        name=session.name,
        starts_at=starts,
        mode=SelectionSession.Mode.ONLINE,
        order=SelectionSession.Order.QUEUE,
        units_per_buyer=2,
        units_per_household=3,
        minutes_per_buyer=9,
        buildings=[units[0].building],
        floors=[1],
    )
    changes = _audits(session).latest("pk").changes
    assert changes["order"] == {"old": "lottery", "new": "queue"}
    assert changes["units_per_buyer"] == {"old": "1", "new": "2"}
    assert changes["units_per_household"] == {"old": "1", "new": "3"}
    assert changes["minutes_per_buyer"] == {"old": "5", "new": "9"}
    assert changes["mode"]["new"] == "online"
    assert "starts_at" in changes
    assert "name" not in changes  # unchanged: not written as a change


def test_refunds_queued_by_closing_are_each_audited(consultant, sales_manager, opening):
    project, _units, session = opening
    for _ in range(2):
        enter(session, make_deposit(project=project, consultant=consultant))
    service.session_close(actor=sales_manager, session=session, deposits="refund")
    refunds = list(DepositRefund.objects.all())
    assert len(refunds) == 2
    for refund in refunds:
        entry = _audits(refund).get()
        assert entry.action == AuditEntry.Action.CREATE
        assert entry.actor == sales_manager


def test_deposits_moved_by_closing_are_audited_on_the_next_session(
    consultant, sales_manager, opening
):
    project, _units, session = opening
    for _ in range(2):
        enter(session, make_deposit(project=project, consultant=consultant))
    later = make_session(
        project=project,
        created_by=sales_manager,
        units=[],
        status=Status.DRAFT,
        starts_at=timezone.now() + timedelta(days=7),
    )
    service.session_close(
        actor=sales_manager, session=session, deposits="move", next_session=later
    )
    assert later.entries.count() == 2
    entry = _audits(later).get()
    assert entry.actor == sales_manager
    assert entry.changes["entries"]["new"] == "2"


# --- a first-come session opened from draft ---------------------------------------


def test_a_first_come_session_opened_from_draft_drops_deposits_used_or_elsewhere(
    consultant, sales_manager, opening
):
    project, _units, ordered = opening
    ordered.status = Status.ORDERED
    ordered.save(update_fields=["status"])
    first_come = make_session(
        project=project,
        created_by=sales_manager,
        units=[],
        status=Status.DRAFT,
        order=SelectionSession.Order.FIRST_COME,
        name="加推",
    )
    elsewhere = make_deposit(project=project, consultant=consultant)
    refunded = make_deposit(
        project=project, consultant=consultant, status=IntentDeposit.Status.REFUNDED
    )
    fine = make_deposit(project=project, consultant=consultant)
    enter(ordered, elsewhere)
    for deposit in (elsewhere, refunded, fine):
        enter(first_come, deposit, slot_open=False)

    service.session_open(actor=sales_manager, session=first_come)

    # One deposit is never selecting in two sessions at once (two claims with it,
    # one of which could never be signed, and a session that could never close).
    assert list(first_come.entries.values_list("deposit_id", flat=True)) == [fine.pk]


def test_a_first_come_session_with_no_deposit_left_is_not_opened(
    consultant, sales_manager, opening
):
    project, _units, _session = opening
    first_come = make_session(
        project=project,
        created_by=sales_manager,
        units=[],
        status=Status.DRAFT,
        order=SelectionSession.Order.FIRST_COME,
        name="加推",
    )
    refunded = make_deposit(
        project=project, consultant=consultant, status=IntentDeposit.Status.REFUNDED
    )
    enter(first_come, refunded, slot_open=False)
    with pytest.raises(service.SessionRefused):
        service.session_open(actor=sales_manager, session=first_come)
    first_come.refresh_from_db()
    assert first_come.status == Status.DRAFT
    assert first_come.entries.count() == 1  # nothing half done


# --- the read-only executive ------------------------------------------------------


def test_the_executive_reads_the_refunds_without_buttons_that_refuse_them(
    client, consultant, executive, opening
):
    from sales.services import deposits as deposit_service

    project, _units, _session = opening
    deposit = make_deposit(project=project, consultant=consultant)
    refund = deposit_service.deposit_refund_request(
        actor=consultant, deposit=deposit, reason="客户改买别处"
    )
    client.force_login(executive)
    page = client.get(reverse("sales:deposit-refund-list"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "客户改买别处" in text
    decide = reverse("sales:deposit-refund-decide", args=[refund.pk])
    assert decide not in text


# --- a phone's claim at the moment of closing ------------------------------------


@pytest.mark.parametrize("choice", ["refund", "move"])
def test_a_deposit_claimed_on_a_phone_as_the_session_closes_is_not_refunded_or_moved(
    monkeypatch, consultant, sales_manager, opening, choice
):
    from sales.services.opening import selection_claim

    project, units, session = opening
    claimed = enter(session, make_deposit(project=project, consultant=consultant))
    unused = enter(session, make_deposit(project=project, consultant=consultant))
    later = make_session(
        project=project,
        created_by=sales_manager,
        units=[],
        status=Status.DRAFT,
        starts_at=timezone.now() + timedelta(days=7),
    )
    # The buyer taps 选定 while the manager closes: the claim commits after the
    # close signed the waiting claims, before it counts the unused deposits.
    monkeypatch.setattr(service, "_sign_claims", lambda session: None)
    selection_claim(session=session, entry=claimed, unit=units[0], channel="online")

    result = service.session_close(
        actor=sales_manager,
        session=session,
        deposits=choice,
        next_session=later if choice == "move" else None,
    )

    # Its deposit is the subscription's, applied when the worker signs: not money
    # to hand back, nor a number in the next session.
    assert not DepositRefund.objects.filter(deposit=claimed.deposit).exists()
    assert not later.entries.filter(deposit=claimed.deposit).exists()
    assert result.refunds + result.moved == 1
    assert (
        DepositRefund.objects.filter(deposit=unused.deposit).exists()
        or later.entries.filter(deposit=unused.deposit).exists()
    )
    assert result.released == len(units) - 1
