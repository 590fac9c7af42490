"""The selection (选房) under its rules and under load: sales.services.opening."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from customers.models import Household
from sales import tasks
from sales.models import (
    IntentDeposit,
    Opportunity,
    PaymentItem,
    Selection,
    SelectionSession,
    Unit,
)
from sales.services import money
from sales.services.deals import UnitUnavailable
from sales.services.opening import (
    SelectionRefused,
    selection_claim,
    selection_complete,
    selection_make,
    selections_to_sign,
)
from tests.factories import CustomerFactory
from tests.opening_fixtures import enter, make_deposit, make_session, opening_project

pytestmark = pytest.mark.django_db

ON_SITE = Selection.Channel.ON_SITE
# Statements of one online selection (deal opened, two stage moves with their audit,
# history and timeline entries, the payment item and receipt, the deposit applied).
# 67 before the entry and its deposit were locked at once, 62 after; 63 since the
# claim and the paperwork are two steps (the paperwork reads its selection again);
# 68 since the paperwork audits the deal's opening, unit and price and opening a
# deal locks its customer (one open deal per customer and project); 69 since the
# subscription locks its customer before setting their stage (a cancellation of
# another of their deals at once must not leave a buyer a prospect). The claim, what
# the rush waits for, is unchanged. 70 since the claim reads the session's status
# again under the entry's lock.
SELECTION_QUERY_BUDGET = 70
# Statements of the claim alone, what a buyer's phone waits for in the rush: the
# entry with its session, deposit and pending refund, both limits counted at once,
# the unit locked if offered, the buyer's open deal, the unit's status and its
# webhook, the selection; 9 since the session's status is read again once the
# entry is locked (a close the claim waited for refuses it).
CLAIM_QUERY_BUDGET = 9
ONLINE = Selection.Channel.ONLINE


@pytest.fixture
def opening(consultant, sales_manager):
    project, units = opening_project()
    session = make_session(project=project, created_by=sales_manager)
    return project, units, session


def test_a_selection_subscribes_the_unit_with_the_deposit_applied(opening, consultant):
    project, units, session = opening
    entry = enter(session, make_deposit(project=project, consultant=consultant))
    selection = selection_make(
        session=session, entry=entry, unit=units[0], channel=ON_SITE, actor=consultant
    )
    units[0].refresh_from_db()
    assert units[0].status == Unit.Status.SUBSCRIBED
    deal = selection.opportunity
    assert deal.stage == Opportunity.Stage.SUBSCRIBED and deal.unit == units[0]
    assert deal.agreed_price == units[0].list_price
    deposit = IntentDeposit.objects.get(pk=entry.deposit_id)
    assert deposit.status == IntentDeposit.Status.APPLIED
    assert deposit.opportunity == deal
    item = deal.payment_items.get()
    assert item.kind == PaymentItem.Kind.DEPOSIT
    assert item.received == item.amount == Decimal("50000.00")
    assert item.receipts.get().reference == deposit.receipt_number


def test_the_payment_plan_is_built_around_the_applied_deposit(opening, consultant):
    project, units, session = opening
    entry = enter(session, make_deposit(project=project, consultant=consultant))
    deal = selection_make(
        session=session, entry=entry, unit=units[0], channel=ON_SITE, actor=consultant
    ).opportunity
    items = money.payment_plan_create(
        actor=consultant, opportunity=deal, scheme="full", deposit=Decimal("1")
    )
    assert [(i.sequence, i.kind) for i in items] == [(1, "deposit"), (2, "full")]
    assert sum(i.amount for i in items) == deal.agreed_price
    assert items[0].received == Decimal("50000.00")


def test_a_second_unit_is_refused_over_the_buyers_limit(opening, consultant):
    project, units, session = opening
    entry = enter(session, make_deposit(project=project, consultant=consultant))
    selection_make(session=session, entry=entry, unit=units[0], channel=ON_SITE)
    with pytest.raises(SelectionRefused) as refused:
        selection_make(session=session, entry=entry, unit=units[1], channel=ON_SITE)
    assert refused.value.code == "buyer_limit"
    assert Unit.objects.get(pk=units[1].pk).status == Unit.Status.AVAILABLE


def test_a_claim_reads_its_entry_as_it_is_now(opening, consultant):
    """The entry's statement is compiled once per process (crm_site.compiled): each
    claim still reads the entry, its deposit and a pending refund as they are."""
    from sales.models import DepositRefund, SessionEntry

    project, units, session = opening
    asked = make_deposit(project=project, consultant=consultant)
    entry = enter(session, asked)
    other = enter(session, make_deposit(project=project, consultant=consultant))
    selection_claim(session=session, entry=other, unit=units[1], channel=ONLINE)
    DepositRefund.objects.create(
        deposit=asked, amount=asked.amount, reason="x", requested_by=consultant
    )
    with pytest.raises(SelectionRefused) as refused:
        selection_claim(session=session, entry=entry, unit=units[0], channel=ONLINE)
    assert refused.value.code == "refund_pending"
    IntentDeposit.objects.filter(pk=asked.pk).update(status="refunded")
    with pytest.raises(SelectionRefused) as refused:
        selection_claim(session=session, entry=entry, unit=units[0], channel=ONLINE)
    assert refused.value.code == "refunded"
    with pytest.raises(SessionEntry.DoesNotExist):
        selection_claim(
            session=session, entry=SessionEntry(pk=10**9), unit=units[0], channel=ONLINE
        )
    assert Unit.objects.get(pk=units[0].pk).status == Unit.Status.AVAILABLE


def test_a_household_may_not_exceed_its_limit_through_two_members(opening, consultant):
    project, units, session = opening
    home = Household.objects.create(name="李家")
    spouse_a = CustomerFactory(household=home)
    spouse_b = CustomerFactory(household=home)
    a = enter(
        session, make_deposit(project=project, consultant=consultant, customer=spouse_a)
    )
    b = enter(
        session, make_deposit(project=project, consultant=consultant, customer=spouse_b)
    )
    selection_make(session=session, entry=a, unit=units[0], channel=ON_SITE)
    with pytest.raises(SelectionRefused) as refused:
        selection_make(session=session, entry=b, unit=units[1], channel=ON_SITE)
    assert refused.value.code == "household_limit"


def test_an_online_buyer_waits_for_their_slot(opening, consultant):
    project, units, session = opening
    entry = enter(
        session, make_deposit(project=project, consultant=consultant), slot_open=False
    )
    entry.slot_starts_at = timezone.now() + timedelta(minutes=10)
    entry.save()
    with pytest.raises(SelectionRefused) as refused:
        selection_make(session=session, entry=entry, unit=units[0], channel=ONLINE)
    assert refused.value.code == "too_soon"


def test_an_unqualified_buyer_cannot_choose_where_the_project_checks(
    opening, consultant
):
    project, units, session = opening
    project.requires_qualification = True
    project.save()
    entry = enter(
        session,
        make_deposit(
            project=project,
            consultant=consultant,
            qualification=IntentDeposit.Qualification.PENDING,
        ),
    )
    with pytest.raises(SelectionRefused) as refused:
        selection_make(session=session, entry=entry, unit=units[0], channel=ON_SITE)
    assert refused.value.code == "unqualified"


def test_a_closed_session_refuses_and_a_unit_outside_it_is_refused(
    consultant, sales_manager
):
    project, units = opening_project()
    session = make_session(project=project, created_by=sales_manager, units=units[:1])
    entry = enter(session, make_deposit(project=project, consultant=consultant))
    with pytest.raises(SelectionRefused) as refused:
        selection_make(session=session, entry=entry, unit=units[1], channel=ON_SITE)
    assert refused.value.code == "unit"
    session.status = SelectionSession.Status.CLOSED
    session.save()
    with pytest.raises(SelectionRefused):
        selection_make(session=session, entry=entry, unit=units[0], channel=ON_SITE)


@pytest.mark.django_db(transaction=True)
def test_buyers_rushing_for_few_units_never_get_one_unit_twice_or_exceed_limits(
    consultant, sales_manager
):
    project, units = opening_project(floors=2, per_floor=2)
    session = make_session(
        project=project, created_by=sales_manager, units_per_household=1
    )
    home = Household.objects.create(name="王家")
    entries = [
        enter(session, make_deposit(project=project, consultant=consultant))
        for _ in range(10)
    ]
    # Two members of one household, each on their own phone.
    entries += [
        enter(
            session,
            make_deposit(
                project=project,
                consultant=consultant,
                customer=CustomerFactory(household=home),
            ),
        )
        for _ in range(2)
    ]
    barrier = threading.Barrier(len(entries) * 2)
    outcomes: list[str] = []

    def attempt(entry, order):
        try:
            barrier.wait()
            for unit in order:
                try:
                    selection_make(
                        session=session, entry=entry, unit=unit, channel=ONLINE
                    )
                    outcomes.append("sold")
                    return
                except UnitUnavailable:
                    continue
            outcomes.append("none left")
        except SelectionRefused as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    # Every buyer tries twice at once (two phones), first choice the same unit.
    threads = [
        threading.Thread(target=attempt, args=(entry, units))
        for entry in entries
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("sold") == len(units)
    live = Selection.objects.filter(session=session, cancelled_at=None)
    assert live.count() == len(units)
    assert live.values("unit").distinct().count() == len(units)
    assert live.values("entry").distinct().count() == len(units)
    assert live.filter(household=home).count() <= 1
    assert Unit.objects.filter(
        pk__in=[u.pk for u in units], status=Unit.Status.SUBSCRIBED
    ).count() == len(units)


def _warm_claim(project, session, unit, consultant) -> None:
    """One claim, unmeasured, before a query count: it fills the caches a claim reads
    (the webhook subscribers, kept until a subscription or key changes, which an
    earlier test in the same worker may have done), so the count does not depend on
    test order."""
    warm = enter(session, make_deposit(project=project, consultant=consultant))
    selection_claim(session=session, entry=warm, unit=unit, channel=ONLINE)


def test_a_selection_costs_a_fixed_budget_of_queries_whatever_was_sold_before(
    opening, consultant
):
    """Measured with CaptureQueriesContext: the selection's statements do not grow
    with the sales before it (the budget is today's count, so a new statement in the
    rush's hottest path is a decision, not an accident)."""
    from django.test.utils import CaptureQueriesContext

    project, units, session = opening
    _warm_claim(project, session, units[3], consultant)
    counts = []
    for unit in units[:3]:
        entry = enter(session, make_deposit(project=project, consultant=consultant))
        with CaptureQueriesContext(connection) as queries:
            selection_make(session=session, entry=entry, unit=unit, channel=ONLINE)
        counts.append(len(queries))
    assert counts[1] == counts[2] <= counts[0]
    assert counts[2] <= SELECTION_QUERY_BUDGET, counts


@pytest.mark.django_db(transaction=True)
def test_a_unit_another_selection_is_signing_is_refused_at_once(opening, consultant):
    """The unit row is locked by a selection in progress: the second buyer hears
    "someone was faster" without waiting for it (SKIP LOCKED)."""
    project, units, session = opening
    entry = enter(session, make_deposit(project=project, consultant=consultant))
    holder_ready, release = threading.Event(), threading.Event()

    def holder() -> None:
        from django.db import connections, transaction

        try:
            with transaction.atomic():
                Unit.objects.select_for_update().get(pk=units[0].pk)
                holder_ready.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert holder_ready.wait(10)
        with pytest.raises(UnitUnavailable):
            selection_make(session=session, entry=entry, unit=units[0], channel=ONLINE)
    finally:
        release.set()
        thread.join()
    # Nothing was signed, and the unit may still be chosen.
    assert not Selection.objects.exists()
    selection_make(session=session, entry=entry, unit=units[0], channel=ONLINE)
    assert Unit.objects.get(pk=units[0].pk).status == Unit.Status.SUBSCRIBED


# The claim, then the paperwork ------------------------------------------------------


def test_a_claim_makes_the_unit_the_buyers_and_queues_the_paperwork(
    opening, consultant, django_capture_on_commit_callbacks
):
    project, units, session = opening
    entry = enter(session, make_deposit(project=project, consultant=consultant))
    with django_capture_on_commit_callbacks() as callbacks:
        selection = selection_claim(
            session=session, entry=entry, unit=units[0], channel=ONLINE
        )
    units[0].refresh_from_db()
    assert units[0].status == Unit.Status.SUBSCRIBED
    assert selection.opportunity is None
    assert IntentDeposit.objects.get(pk=entry.deposit_id).status == "active"
    assert len(callbacks) == 2  # the screens told, the paperwork's task queued

    signed = selection_complete(selection.pk)
    deal = signed.opportunity
    assert deal.stage == Opportunity.Stage.SUBSCRIBED and deal.unit == units[0]
    assert deal.consultant == consultant
    assert deal.agreed_price == units[0].list_price
    deposit = IntentDeposit.objects.get(pk=entry.deposit_id)
    assert (
        deposit.status == IntentDeposit.Status.APPLIED and deposit.opportunity == deal
    )
    assert deal.payment_items.get().received == Decimal("50000.00")


def test_the_paperwork_runs_once_however_often_it_is_asked(opening, consultant):
    project, units, session = opening
    entry = enter(session, make_deposit(project=project, consultant=consultant))
    selection = selection_claim(
        session=session, entry=entry, unit=units[0], channel=ONLINE
    )
    tasks.selection_complete(selection.pk)
    tasks.selection_complete(selection.pk)
    selection.refresh_from_db()
    deal = selection.opportunity
    assert deal.payment_items.count() == 1
    assert deal.stage_changes.filter(to_stage=Opportunity.Stage.SUBSCRIBED).count() == 1


def test_a_claim_costs_a_fixed_budget_of_queries(opening, consultant):
    from django.test.utils import CaptureQueriesContext

    project, units, session = opening
    _warm_claim(project, session, units[3], consultant)
    counts = []
    for unit in units[:3]:
        entry = enter(session, make_deposit(project=project, consultant=consultant))
        with CaptureQueriesContext(connection) as queries:
            selection_claim(session=session, entry=entry, unit=unit, channel=ONLINE)
        counts.append(len(queries))
    assert counts[0] == counts[1] == counts[2] <= CLAIM_QUERY_BUDGET, counts


def test_the_sweep_signs_claims_whose_task_was_lost(opening, consultant, monkeypatch):
    project, units, session = opening
    entry = enter(session, make_deposit(project=project, consultant=consultant))
    selection = selection_claim(
        session=session, entry=entry, unit=units[0], channel=ONLINE
    )
    assert selections_to_sign(older_than=timedelta(seconds=30)) == []
    Selection.objects.filter(pk=selection.pk).update(
        selected_at=timezone.now() - timedelta(minutes=1)
    )
    queued = []
    monkeypatch.setattr(tasks.selection_complete, "delay", queued.append)
    assert tasks.selections_complete_pending() == 1
    assert queued == [selection.pk]
    tasks.selection_complete(*queued)
    assert selections_to_sign(older_than=timedelta(seconds=30)) == []


def test_closing_the_session_signs_claims_before_it_counts_unused_deposits(
    opening, consultant, sales_manager
):
    from sales.services.sessions import CloseChoice, session_close

    project, units, session = opening
    entry = enter(session, make_deposit(project=project, consultant=consultant))
    selection = selection_claim(
        session=session, entry=entry, unit=units[0], channel=ONLINE
    )
    result = session_close(
        actor=sales_manager, session=session, deposits=CloseChoice.REFUND
    )
    assert result.refunds == 0
    selection.refresh_from_db()
    assert selection.opportunity.stage == Opportunity.Stage.SUBSCRIBED
    assert IntentDeposit.objects.get(pk=entry.deposit_id).status == "applied"


def test_a_claim_is_refused_when_the_buyers_open_deal_holds_another_unit(
    opening, consultant
):
    from sales.services.deals import opportunity_open

    project, units, session = opening
    deposit = make_deposit(project=project, consultant=consultant)
    entry = enter(session, deposit)
    deal = opportunity_open(
        actor=consultant, customer=deposit.customer, project=project
    )
    deal.unit = units[5]
    deal.save(update_fields=["unit"])
    with pytest.raises(SelectionRefused) as refused:
        selection_claim(session=session, entry=entry, unit=units[0], channel=ONLINE)
    assert refused.value.code == "deal"
    units[0].refresh_from_db()
    assert units[0].status == Unit.Status.AVAILABLE
    assert not Selection.objects.exists()


def test_the_session_report_counts_a_claim_still_being_signed(opening, consultant):
    from sales.services.sessions import session_report

    project, units, session = opening
    entry = enter(session, make_deposit(project=project, consultant=consultant))
    selection_claim(session=session, entry=entry, unit=units[0], channel=ONLINE)
    report = session_report(session=session)
    assert report.sold == 1 and report.value == units[0].list_price
    assert [row.label for row in report.by_consultant] == [consultant.display_name]


@pytest.mark.django_db(transaction=True)
def test_a_claim_that_waited_for_the_close_is_refused(opening, consultant):
    """Closing locks the deposits; a claim waiting on one of them read the session
    as open before it waited. Once the close commits, the claim reads the session
    again and is refused: a closed session takes no selection (its units are back on
    normal sale)."""
    project, units, session = opening
    entry = enter(session, make_deposit(project=project, consultant=consultant))
    closing, close = threading.Event(), threading.Event()

    def closer() -> None:
        from django.db import connections, transaction

        try:
            with transaction.atomic():
                SelectionSession.objects.select_for_update().get(pk=session.pk)
                IntentDeposit.objects.select_for_update().get(pk=entry.deposit_id)
                closing.set()
                close.wait(10)
                SelectionSession.objects.filter(pk=session.pk).update(
                    status=SelectionSession.Status.CLOSED, closed_at=timezone.now()
                )
        finally:
            connections.close_all()

    thread = threading.Thread(target=closer)
    thread.start()
    try:
        assert closing.wait(10)
        threading.Timer(0.5, close.set).start()  # the claim is waiting by then
        with pytest.raises(SelectionRefused) as refused:
            selection_claim(session=session, entry=entry, unit=units[0], channel=ONLINE)
    finally:
        close.set()
        thread.join()
    assert refused.value.code == "not_open"
    assert not Selection.objects.exists()
    assert Unit.objects.get(pk=units[0].pk).status == Unit.Status.AVAILABLE
