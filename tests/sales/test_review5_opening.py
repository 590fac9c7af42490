"""Opening day on the staff side, fifth review: a close that refunds the unused
deposits while a consultant asks a refund of one of them, an order that numbers a
buyer who is leaving, a deposit amount with three zeros too many, and Approve
offered on one's own refund request."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse
from django.utils.translation import gettext as _

from crm_site.models import User
from crm_site.roles import Role
from sales import tasks
from sales.models import (
    DepositRefund,
    IntentDeposit,
    SelectionSession,
    SessionOrderNotice,
)
from sales.services import deposits as deposit_services
from sales.services import lottery
from sales.services import sessions as session_services
from sales.services.sessions import CloseChoice
from tests.factories import UserFactory
from tests.opening_fixtures import enter, make_deposit, make_session, opening_project

Status = SelectionSession.Status


def _opening(manager, status=Status.ORDERED, order=SelectionSession.Order.QUEUE):
    project, _units = opening_project(floors=2, per_floor=2)
    session = make_session(
        project=project, created_by=manager, status=status, order=order
    )
    return project, session


# --- 1. closing with refunds while a consultant asks one -------------------------


@pytest.mark.django_db(transaction=True)
def test_closing_with_refunds_while_a_refund_is_asked_skips_that_deposit(
    consultant, sales_manager, monkeypatch
):
    project, session = _opening(sales_manager)
    asked = make_deposit(project=project, consultant=consultant)
    other = make_deposit(project=project, consultant=consultant)
    enter(session, asked)
    enter(session, other)

    refund_made = threading.Event()
    close_started = threading.Event()
    real_audit = deposit_services.audit_record
    errors: list[BaseException] = []
    outcomes: dict[str, object] = {}

    def slow_audit(**kwargs):
        # The refund row is written and its deposit locked; the close starts and
        # waits for that lock before this transaction commits.
        result = real_audit(**kwargs)
        refund_made.set()
        close_started.wait(10)
        time.sleep(1.0)
        return result

    monkeypatch.setattr(deposit_services, "audit_record", slow_audit)

    def ask():
        try:
            outcomes["ask"] = deposit_services.deposit_refund_request(
                actor=consultant, deposit=asked, reason="客户放弃"
            )
        except ValidationError as exc:
            outcomes["ask"] = exc
        except BaseException as exc:  # noqa: BLE001 - a 500 for the user
            errors.append(exc)
        finally:
            connection.close()

    def close():
        try:
            refund_made.wait(10)
            close_started.set()
            outcomes["close"] = session_services.session_close(
                actor=sales_manager, session=session, deposits=CloseChoice.REFUND
            )
        except ValidationError as exc:
            outcomes["close"] = exc
        except BaseException as exc:  # noqa: BLE001 - a 500 for the user
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=ask), threading.Thread(target=close)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, [repr(e) for e in errors]
    assert isinstance(outcomes["ask"], DepositRefund)
    assert outcomes["close"].refunds == 1
    pending = DepositRefund.objects.filter(status=DepositRefund.Status.PENDING)
    assert sorted(pending.values_list("deposit_id", flat=True)) == sorted(
        [asked.pk, other.pk]
    )
    assert pending.get(deposit=asked).reason == "客户放弃"
    assert SelectionSession.objects.get(pk=session.pk).status == Status.CLOSED


@pytest.mark.django_db
def test_a_refund_asked_after_the_close_queued_one_is_refused_on_the_page(
    client, consultant, sales_manager
):
    project, session = _opening(sales_manager)
    deposit = make_deposit(project=project, consultant=consultant)
    enter(session, deposit)
    session_services.session_close(
        actor=sales_manager, session=session, deposits=CloseChoice.REFUND
    )
    client.force_login(consultant)
    url = reverse("sales:deposit-refund-request", args=[deposit.pk])
    response = client.post(url, {"reason": "客户放弃"}, follow=True)
    assert response.status_code == 200
    texts = [str(m) for m in response.context["messages"]]
    assert _("A refund of this deposit already waits for approval.") in texts
    assert DepositRefund.objects.filter(deposit=deposit).count() == 1


# --- 2. the order leaves out who is leaving --------------------------------------


@pytest.mark.django_db
def test_setting_the_order_leaves_out_a_deposit_whose_refund_waits(
    consultant, sales_manager, monkeypatch, django_capture_on_commit_callbacks
):
    project, session = _opening(sales_manager, status=Status.DRAFT)
    made = [make_deposit(project=project, consultant=consultant) for _ in range(3)]
    lottery.session_entries_fill(actor=sales_manager, session=session)
    deposit_services.deposit_refund_request(
        actor=consultant, deposit=made[1], reason="客户放弃"
    )
    monkeypatch.setattr(tasks.session_order_notice_send, "delay", lambda pk: None)
    with django_capture_on_commit_callbacks(execute=True):
        lottery.session_order_set(actor=sales_manager, session=session)
    numbered = dict(session.entries.values_list("deposit_id", "position"))
    assert numbered == {made[0].pk: 1, made[2].pk: 2}
    texted = set(SessionOrderNotice.objects.values_list("entry__deposit_id", flat=True))
    assert texted == {made[0].pk, made[2].pk}


@pytest.mark.django_db
def test_opening_a_first_come_session_leaves_out_a_deposit_whose_refund_waits(
    consultant, sales_manager
):
    project, session = _opening(
        sales_manager, status=Status.DRAFT, order=SelectionSession.Order.FIRST_COME
    )
    made = [make_deposit(project=project, consultant=consultant) for _ in range(2)]
    lottery.session_entries_fill(actor=sales_manager, session=session)
    deposit_services.deposit_refund_request(
        actor=consultant, deposit=made[0], reason="客户放弃"
    )
    session_services.session_open(actor=sales_manager, session=session)
    assert list(session.entries.values_list("deposit_id", flat=True)) == [made[1].pk]


# --- 3. a deposit amount with a slip of zeros ------------------------------------


def _take_post(client, project, customer, amount):
    return client.post(
        reverse("sales:deposit-take", args=[project.pk]),
        {
            "customer": customer.pk,
            "receipt_number": "SJ-0001",
            "amount": amount,
            "method": "transfer",
            "paid_on": "2026-12-01",
        },
    )


@pytest.mark.django_db
def test_a_deposit_amount_with_three_zeros_too_many_is_refused_next_to_the_field(
    client, consultant, own_customer
):
    project, _units = opening_project(floors=1, per_floor=1)
    client.force_login(consultant)
    response = _take_post(client, project, own_customer, "50000000")
    assert response.status_code == 200
    errors = response.context["form"].errors["amount"]
    assert any("¥10,000,000" in e for e in errors)
    for amount in ("0", "-1"):
        response = _take_post(client, project, own_customer, amount)
        assert response.context["form"].errors["amount"]
    assert not IntentDeposit.objects.exists()
    response = _take_post(client, project, own_customer, "10000000")
    assert response.status_code == 302
    assert IntentDeposit.objects.get().amount == Decimal("10000000.00")


# --- 4. no Approve on one's own refund request -----------------------------------


@pytest.mark.django_db
def test_a_manager_is_not_offered_approve_on_their_own_refund_request(
    client, consultant, sales_manager, team
):
    project, _units = opening_project(floors=1, per_floor=2)
    project.teams.add(team)
    mine = make_deposit(project=project, consultant=consultant)
    theirs = make_deposit(project=project, consultant=consultant)
    deposit_services.deposit_refund_request(
        actor=sales_manager, deposit=mine, reason="经理代办"
    )
    deposit_services.deposit_refund_request(
        actor=consultant, deposit=theirs, reason="客户放弃"
    )
    client.force_login(sales_manager)
    page = client.get(reverse("sales:deposit-refund-list")).content.decode()
    rows = page.split('data-testid="refund-row"')[1:]
    own_row = next(row for row in rows if "经理代办" in row)
    other_row = next(row for row in rows if "客户放弃" in row)
    assert 'value="approve"' not in own_row
    assert 'data-testid="own-request"' in own_row
    assert 'value="approve"' in other_row
    assert 'data-testid="own-request"' not in other_row
    detail = client.get(reverse("sales:deposit-detail", args=[mine.pk]))
    text = detail.content.decode()
    assert 'value="approve"' not in text
    assert 'data-testid="own-request"' in text
    # Who asked may still withdraw it (four eyes is about approving).
    assert 'value="reject"' in own_row and "撤回申请" in own_row
    assert 'value="reject"' in text

    # Another sales manager of the team is offered both.
    colleague: User = UserFactory(
        username="sales_manager2", team=team, role=Role.SALES_MANAGER
    )
    client.force_login(colleague)
    page = client.get(reverse("sales:deposit-refund-list")).content.decode()
    assert page.count('value="approve"') == 2

    # The manager withdraws their own request from the list.
    client.force_login(sales_manager)
    own = DepositRefund.objects.get(deposit=mine)
    form = client.get(reverse("sales:deposit-refund-list")).content.decode()
    token = form.split('name="submission_token" value="')[1].split('"')[0]
    client.post(
        reverse("sales:deposit-refund-decide", args=[own.pk]),
        {"decision": "reject", "note": "", "submission_token": token},
    )
    own.refresh_from_db()
    assert own.status == DepositRefund.Status.REJECTED


# --- 5. the refunds a close queues are someone's to decide -------------------------


def test_the_refunds_a_close_queues_are_told_to_the_other_managers(
    consultant, sales_manager, team
):
    """The closing manager asked them (four eyes: another decides): the team's other
    managers hear it once, with the count; the closer is not told their own."""
    from crm_site.models import Notification

    colleague = UserFactory(role=Role.SALES_MANAGER, team=team)
    project, session = _opening(sales_manager, status=Status.OPEN)
    for _n in range(2):
        enter(session, make_deposit(project=project, consultant=consultant))
    session_services.session_close(
        actor=sales_manager, session=session, deposits=CloseChoice.REFUND
    )
    told = Notification.objects.filter(event="sales.session_refunds_asked")
    assert [n.user for n in told] == [colleague]
    assert told.get().params["count"] == "2"
