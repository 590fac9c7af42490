"""Deposits of intent (认筹): sales.services.deposits and its screens."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse

from crm_site.models import AuditEntry, Notification
from customers.models import Household, Interaction
from sales.models import (
    DepositRefund,
    IntentDeposit,
    Opportunity,
    SelectionSession,
    Unit,
)
from sales.services import deposits as service
from sales.services.lottery import session_entries_fill
from sales.services.opening import SelectionRefused, selection_make
from tests.factories import CustomerFactory
from tests.helpers import assert_queries_do_not_grow
from tests.opening_fixtures import enter, make_deposit, make_session, opening_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(db):
    project, _units = opening_project()
    return project


def take(consultant, project, customer, receipt="R-001", **extra):
    return service.deposit_take(
        actor=consultant,
        project=project,
        customer=customer,
        receipt_number=receipt,
        method="transfer",
        **extra,
    )


# Taking a deposit ---------------------------------------------------------------


def test_a_deposit_gets_the_next_queue_number_the_default_amount_and_the_deal(
    project, consultant, own_customer
):
    first = take(consultant, project, own_customer)
    second = take(
        consultant, project, CustomerFactory(assigned_consultant=consultant), "R-002"
    )
    assert (first.queue_number, second.queue_number) == (1, 2)
    assert first.amount == project.deposit_amount
    assert first.status == IntentDeposit.Status.ACTIVE
    assert first.qualification == IntentDeposit.Qualification.NOT_REQUIRED
    deal = first.opportunity
    assert deal.customer == own_customer and deal.project == project
    assert deal.stage == Opportunity.Stage.VISITED
    assert list(deal.intent_deposits.all()) == [first]
    assert Interaction.objects.filter(
        customer=own_customer, event="sales.deposit_taken"
    ).exists()
    assert AuditEntry.objects.filter(
        object_id=first.pk, action=AuditEntry.Action.CREATE
    ).exists()


def test_a_deposit_starts_pending_where_the_project_checks_qualification(
    project, consultant, own_customer
):
    project.requires_qualification = True
    project.save()
    deposit = take(consultant, project, own_customer, amount=Decimal("20000"))
    assert deposit.qualification == IntentDeposit.Qualification.PENDING
    assert deposit.amount == Decimal("20000")
    service.deposit_qualify(
        actor=consultant, deposit=deposit, qualified=True, reference="ZG-2026-88"
    )
    deposit.refresh_from_db()
    assert deposit.qualification == IntentDeposit.Qualification.QUALIFIED
    assert deposit.qualification_note == "ZG-2026-88"


def test_a_receipt_number_is_used_once_per_project(project, consultant, own_customer):
    take(consultant, project, own_customer)
    with pytest.raises(ValidationError) as refused:
        take(consultant, project, CustomerFactory(assigned_consultant=consultant))
    assert "receipt_number" in refused.value.error_dict
    other, _units = opening_project(name="另一个盘")
    assert take(consultant, other, own_customer).queue_number == 1


def test_a_buyer_and_a_household_hold_at_most_the_projects_deposits(
    project, consultant
):
    home = Household.objects.create(name="王家")
    husband = CustomerFactory(assigned_consultant=consultant, household=home)
    wife = CustomerFactory(assigned_consultant=consultant, household=home)
    take(consultant, project, husband)
    with pytest.raises(ValidationError):
        take(consultant, project, husband, "R-002")
    with pytest.raises(ValidationError) as refused:
        take(consultant, project, wife, "R-003")
    assert "household" in str(refused.value) or "家庭" in str(refused.value)
    project.deposits_per_buyer = 2
    project.save()
    assert take(consultant, project, wife, "R-004").queue_number == 2


def test_a_customer_the_consultant_cannot_see_is_refused(
    project, consultant, far_consultant
):
    hidden = CustomerFactory(assigned_consultant=far_consultant)
    with pytest.raises(ValidationError):
        take(consultant, project, hidden)
    assert not IntentDeposit.objects.exists()


def _in_threads(count, work):
    barrier = threading.Barrier(count)
    outcomes: list[str] = []

    def run(i):
        try:
            barrier.wait()
            work(i)
            outcomes.append("taken")
        except ValidationError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_queue_numbers_stay_unique_and_gapless_when_consultants_take_at_once(
    consultant, other_consultant
):
    project, _units = opening_project()
    buyers = [CustomerFactory(assigned_consultant=None) for _ in range(8)]
    people = [consultant, other_consultant]
    outcomes = _in_threads(
        8, lambda i: take(people[i % 2], project, buyers[i], f"R-{i}")
    )
    assert outcomes == ["taken"] * 8
    numbers = sorted(
        IntentDeposit.objects.filter(project=project).values_list(
            "queue_number", flat=True
        )
    )
    assert numbers == list(range(1, 9))


@pytest.mark.django_db(transaction=True)
def test_two_consultants_at_once_cannot_exceed_the_buyer_or_household_limit(
    consultant, other_consultant
):
    project, _units = opening_project()
    home = Household.objects.create(name="赵家")
    buyer = CustomerFactory(assigned_consultant=None)
    members = [
        CustomerFactory(assigned_consultant=None, household=home) for _ in range(4)
    ]
    people = [consultant, other_consultant]
    same_buyer = _in_threads(4, lambda i: take(people[i % 2], project, buyer, f"B-{i}"))
    household = _in_threads(
        4, lambda i: take(people[i % 2], project, members[i], f"H-{i}")
    )
    assert sorted(same_buyer) == ["refused"] * 3 + ["taken"]
    assert sorted(household) == ["refused"] * 3 + ["taken"]
    active = IntentDeposit.objects.filter(status=IntentDeposit.Status.ACTIVE)
    assert active.filter(customer=buyer).count() == 1
    assert active.filter(household=home).count() == 1


# Refunds ------------------------------------------------------------------------


def test_a_refund_is_asked_approved_and_the_requester_told(
    project, consultant, sales_manager, own_customer
):
    deposit = take(consultant, project, own_customer)
    refund = service.deposit_refund_request(
        actor=consultant, deposit=deposit, reason="客户放弃"
    )
    assert refund.amount == deposit.amount
    assert Notification.objects.filter(user=sales_manager).exists()
    with pytest.raises(ValidationError):
        service.deposit_refund_request(actor=consultant, deposit=deposit, reason="再次")
    service.deposit_refund_decide(actor=sales_manager, refund=refund, approve=True)
    deposit.refresh_from_db()
    refund.refresh_from_db()
    assert deposit.status == IntentDeposit.Status.REFUNDED
    assert refund.status == DepositRefund.Status.APPROVED
    assert refund.decided_by == sales_manager
    assert Notification.objects.filter(
        user=consultant, event="sales.deposit_refund_approved"
    ).exists()
    # A second decision does nothing.
    again = service.deposit_refund_decide(
        actor=sales_manager, refund=refund, approve=False
    )
    assert again.status == DepositRefund.Status.APPROVED
    assert DepositRefund.objects.get().status == DepositRefund.Status.APPROVED
    with pytest.raises(ValidationError):
        service.deposit_refund_request(actor=consultant, deposit=deposit, reason="x")


def test_a_rejected_refund_leaves_the_deposit_valid(
    project, consultant, sales_manager, own_customer
):
    deposit = take(consultant, project, own_customer)
    refund = service.deposit_refund_request(
        actor=consultant, deposit=deposit, reason="犹豫"
    )
    service.deposit_refund_decide(actor=sales_manager, refund=refund, approve=False)
    deposit.refresh_from_db()
    assert deposit.status == IntentDeposit.Status.ACTIVE
    assert Notification.objects.filter(
        user=consultant, event="sales.deposit_refund_rejected"
    ).exists()


def test_a_refunded_deposit_is_neither_entered_nor_selected(
    project, consultant, sales_manager, own_customer
):
    deposit = take(consultant, project, own_customer)
    refund = service.deposit_refund_request(
        actor=consultant, deposit=deposit, reason="退筹"
    )
    service.deposit_refund_decide(actor=sales_manager, refund=refund, approve=True)
    draft = make_session(
        project=project, created_by=sales_manager, status=SelectionSession.Status.DRAFT
    )
    assert session_entries_fill(actor=sales_manager, session=draft) == 0
    session = make_session(project=project, created_by=sales_manager)
    entry = enter(session, IntentDeposit.objects.get(pk=deposit.pk))
    unit = Unit.objects.filter(building__project=project).first()
    with pytest.raises(SelectionRefused) as refused:
        selection_make(session=session, entry=entry, unit=unit, channel="on_site")
    assert refused.value.code == "refunded"


def test_no_refund_while_the_deposits_session_is_selecting(
    project, consultant, sales_manager, own_customer
):
    deposit = take(consultant, project, own_customer)
    session = make_session(project=project, created_by=sales_manager)
    enter(session, deposit)
    with pytest.raises(ValidationError):
        service.deposit_refund_request(actor=consultant, deposit=deposit, reason="x")
    assert not DepositRefund.objects.exists()


# Screens ------------------------------------------------------------------------


def test_the_take_form_finds_the_buyer_and_takes_the_deposit(
    client, project, consultant, own_customer
):
    client.force_login(consultant)
    url = reverse("sales:deposit-take", args=[project.pk])
    found = client.get(url, {"q": "张三"})
    assert found.status_code == 200
    assert "张三" in found.content.decode()
    response = client.post(
        url,
        {
            "customer": own_customer.pk,
            "receipt_number": "SJ-0001",
            "amount": "50000",
            "method": "transfer",
            "paid_on": "2026-12-01",
        },
    )
    deposit = IntentDeposit.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("sales:deposit-detail", args=[deposit.pk])
    assert deposit.receipt_number == "SJ-0001"


def test_the_take_form_says_what_is_wrong_next_to_the_field_and_saves_nothing(
    client, project, consultant, own_customer
):
    client.force_login(consultant)
    take(consultant, project, CustomerFactory(assigned_consultant=consultant), "SJ-1")
    url = reverse("sales:deposit-take", args=[project.pk])
    response = client.post(
        url,
        {
            "customer": own_customer.pk,
            "receipt_number": "SJ-1",
            "amount": "-5",
            "method": "transfer",
            "paid_on": "2026-12-01",
        },
    )
    assert response.status_code == 200
    assert response.context["form"].errors["amount"]
    response = client.post(
        url,
        {
            "customer": own_customer.pk,
            "receipt_number": "SJ-1",
            "amount": "50000",
            "method": "transfer",
            "paid_on": "2026-12-01",
        },
    )
    assert response.status_code == 200
    assert response.context["form"].errors["receipt_number"]
    response = client.post(url, {"receipt_number": "SJ-9", "amount": "1"})
    assert response.context["form"].errors["customer"]
    assert IntentDeposit.objects.count() == 1


def test_deposit_screens_need_the_sales_rights(
    client, project, consultant, marketer, own_customer
):
    deposit = take(consultant, project, own_customer)
    client.force_login(marketer)
    assert (
        client.get(reverse("sales:deposit-list", args=[project.pk])).status_code == 403
    )
    assert (
        client.get(reverse("sales:deposit-detail", args=[deposit.pk])).status_code
        == 403
    )
    assert (
        client.get(reverse("sales:deposit-take", args=[project.pk])).status_code == 403
    )
    refund_url = reverse("sales:deposit-refund-request", args=[deposit.pk])
    assert client.post(refund_url, {"reason": "x"}).status_code == 403
    client.force_login(consultant)
    assert client.get(reverse("sales:deposit-refund-list")).status_code == 403
    refund = service.deposit_refund_request(
        actor=consultant, deposit=deposit, reason="x"
    )
    decide = reverse("sales:deposit-refund-decide", args=[refund.pk])
    assert client.post(decide, {"decision": "approve"}).status_code == 403
    assert DepositRefund.objects.get().status == DepositRefund.Status.PENDING


def test_another_teams_deposit_is_not_found(
    client, project, consultant, far_consultant, sales_manager
):
    theirs = take(
        far_consultant,
        project,
        CustomerFactory(assigned_consultant=far_consultant),
    )
    refund = service.deposit_refund_request(
        actor=far_consultant, deposit=theirs, reason="x"
    )
    client.force_login(consultant)
    assert (
        client.get(reverse("sales:deposit-detail", args=[theirs.pk])).status_code == 404
    )
    url = reverse("sales:deposit-refund-request", args=[theirs.pk])
    assert client.post(url, {"reason": "x"}).status_code == 404
    client.force_login(sales_manager)
    decide = reverse("sales:deposit-refund-decide", args=[refund.pk])
    assert client.post(decide, {"decision": "approve"}).status_code == 404
    assert client.get(reverse("sales:deposit-list", args=[999999])).status_code == 404
    listing = client.get(reverse("sales:deposit-list", args=[project.pk]))
    assert listing.context["page"].items == []


def test_the_refund_is_asked_on_the_deposit_page_and_decided_by_a_manager(
    client, project, consultant, sales_manager, own_customer
):
    deposit = take(consultant, project, own_customer)
    client.force_login(consultant)
    url = reverse("sales:deposit-refund-request", args=[deposit.pk])
    assert client.post(url, {"reason": ""}).status_code == 302
    assert not DepositRefund.objects.exists()
    client.post(url, {"reason": "客户改买别处"})
    refund = DepositRefund.objects.get()
    page = client.get(reverse("sales:deposit-detail", args=[deposit.pk]))
    assert "客户改买别处" in page.content.decode()
    client.force_login(sales_manager)
    # The approvals page, where a manager looks first, says it waits and leads to it.
    approvals = client.get(reverse("sales:approval-list")).content.decode()
    assert 'data-testid="deposit-refunds-waiting"' in approvals
    assert reverse("sales:deposit-refund-list") in approvals
    listing = client.get(reverse("sales:deposit-refund-list"))
    assert [r.pk for r in listing.context["page"].items] == [refund.pk]
    decide = reverse("sales:deposit-refund-decide", args=[refund.pk])
    assert client.post(decide, {"decision": "maybe"}).status_code == 302
    assert DepositRefund.objects.get().status == DepositRefund.Status.PENDING
    client.post(decide, {"decision": "approve", "note": "同意"})
    client.post(decide, {"decision": "reject"})
    assert DepositRefund.objects.get().status == DepositRefund.Status.APPROVED
    assert IntentDeposit.objects.get().status == IntentDeposit.Status.REFUNDED


def test_the_qualification_is_recorded_on_the_deposit_page(
    client, project, consultant, own_customer
):
    project.requires_qualification = True
    project.save()
    deposit = take(consultant, project, own_customer)
    client.force_login(consultant)
    url = reverse("sales:deposit-qualify", args=[deposit.pk])
    client.post(url, {"result": "qualified", "reference": ""})
    deposit.refresh_from_db()
    assert deposit.qualification == IntentDeposit.Qualification.PENDING
    client.post(url, {"result": "qualified", "reference": "ZG-1"})
    deposit.refresh_from_db()
    assert deposit.qualification == IntentDeposit.Qualification.QUALIFIED


def test_the_list_searches_filters_and_masks_numbers_for_the_role(
    client, project, consultant, sales_manager, other_consultant, own_customer
):
    mine = take(consultant, project, own_customer)
    theirs = take(
        other_consultant,
        project,
        CustomerFactory(
            name="赵六", mobile="+8613900139000", assigned_consultant=other_consultant
        ),
        "R-2",
    )
    client.force_login(sales_manager)
    url = reverse("sales:deposit-list", args=[project.pk])
    everything = client.get(url)
    assert [d.pk for d in everything.context["page"].items] == [mine.pk, theirs.pk]
    assert [d.pk for d in client.get(url, {"q": "赵六"}).context["page"].items] == [
        theirs.pk
    ]
    assert [d.pk for d in client.get(url, {"q": "1"}).context["page"].items] == [
        mine.pk
    ]
    assert [d.pk for d in client.get(url, {"q": "R-2"}).context["page"].items] == [
        theirs.pk
    ]
    refunded = client.get(url, {"status": "refunded"})
    assert refunded.context["page"].items == []
    # The consultant sees only their own, the owner's number in full.
    client.force_login(consultant)
    mine_only = client.get(url)
    assert [d.pk for d in mine_only.context["page"].items] == [mine.pk]
    assert "138 0013 8000" in mine_only.content.decode() or "13800138000" in (
        mine_only.content.decode().replace(" ", "")
    )
    # The bad filter value is ignored, not an error.
    assert client.get(url, {"status": "nonsense"}).status_code == 200


def test_the_deposit_list_and_refund_list_queries_do_not_grow(
    client, project, consultant, sales_manager
):
    client.force_login(sales_manager)
    url = reverse("sales:deposit-list", args=[project.pk])
    refunds = reverse("sales:deposit-refund-list")

    def add():
        for _ in range(3):
            deposit = make_deposit(project=project, consultant=consultant)
            DepositRefund.objects.create(
                deposit=deposit,
                amount=deposit.amount,
                reason="x",
                requested_by=consultant,
            )

    add()
    assert_queries_do_not_grow(lambda: client.get(url), add, at_most=20)
    assert_queries_do_not_grow(lambda: client.get(refunds), add, at_most=20)
    deposit = IntentDeposit.objects.first()
    detail = reverse("sales:deposit-detail", args=[deposit.pk])
    assert_queries_do_not_grow(
        lambda: client.get(detail),
        lambda: DepositRefund.objects.create(
            deposit=deposit,
            amount=deposit.amount,
            reason="y",
            requested_by=consultant,
            status=DepositRefund.Status.REJECTED,
        ),
        at_most=25,
    )


def test_the_deal_page_shows_the_deposit(client, project, consultant, own_customer):
    deposit = take(consultant, project, own_customer)
    client.force_login(consultant)
    page = client.get(
        reverse("sales:opportunity-detail", args=[deposit.opportunity_id])
    )
    assert 'data-testid="deal-deposits"' in page.content.decode()
    assert reverse("sales:deposit-detail", args=[deposit.pk]) in page.content.decode()
