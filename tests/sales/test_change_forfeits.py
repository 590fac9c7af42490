"""Money a change kept stays kept: a change of unit under a rule that does not keep
the money forfeits part of what was received. A later change (another unit, a
change of buyer, a cancellation) counts the buyer's money as received less what
earlier changes paid back and less what they kept; the plan keeps every forfeit on
top of the price, so its lines' money received still balances."""

from __future__ import annotations

import importlib
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Sum
from django.urls import reverse
from django.utils import translation

from crm_site.audit import audit_entries_for, unaudited
from sales import confirmations, services
from sales.models import ChangeRule, DealChange, DealRefund, Opportunity, PaymentItem
from sales.services.changes import settlement
from tests.factories import CustomerFactory, make_building
from tests.sales.test_changes_after_contract import _pay, _subscribed, signed_deal

pytestmark = pytest.mark.django_db

KEPT = Decimal("5000")


@pytest.fixture
def units(db):
    # Two units a floor, dearer the higher: 3,000,000 / 3,000,000 / 3,010,000 / ...
    return list(make_building().units.order_by("list_price", "pk"))


@pytest.fixture
def forfeiting(units):
    return ChangeRule.objects.create(
        project=units[0].building.project,
        forfeit_basis="fixed",
        forfeit_subscribed=KEPT,
        forfeit_contracted=KEPT,
        buyer_change_fee=Decimal("3000"),
        unit_change_keeps_money=False,
    )


def _change_unit(deal, consultant, manager, unit) -> DealChange:
    change = services.deal_change_request(
        actor=consultant,
        opportunity=deal,
        kind="change_unit",
        reason="换房",
        new_unit=unit,
    )
    return services.deal_change_decide(actor=manager, change=change, approve=True)


def _cancel(deal, consultant, manager) -> DealChange:
    change = services.deal_change_request(
        actor=consultant, opportunity=deal, kind="cancel", reason="退房"
    )
    return services.deal_change_decide(actor=manager, change=change, approve=True)


def _sums(deal) -> tuple[Decimal, Decimal]:
    totals = PaymentItem.objects.filter(opportunity=deal).aggregate(
        due=Sum("amount"), got=Sum("received")
    )
    return totals["due"], totals["got"]


def _refunded(deal) -> Decimal:
    return DealRefund.objects.filter(opportunity=deal).aggregate(s=Sum("amount"))[
        "s"
    ] or Decimal("0")


def _kept(deal) -> Decimal:
    return DealChange.objects.filter(opportunity=deal, status="approved").aggregate(
        s=Sum("forfeit")
    )["s"]


@pytest.fixture
def moved_once(units, forfeiting, consultant, own_customer, sales_manager):
    """A contracted deal on units[0], 100,000 received, moved to the dearer units[2]:
    5,000 forfeited, nothing owed back (no refund row)."""
    deal = signed_deal(consultant, own_customer, units[0])
    change = _change_unit(deal, consultant, sales_manager, units[2])
    deal.refresh_from_db()
    assert not DealRefund.objects.filter(opportunity=deal).exists()
    assert change.forfeit == KEPT
    return deal


def test_a_change_to_a_dearer_unit_records_its_forfeit_on_the_change_and_the_deal(
    moved_once, units
):
    deal = moved_once
    change = deal.changes.get()
    assert change.forfeit == KEPT and deal.forfeited == KEPT
    due, got = _sums(deal)
    assert due == units[2].list_price + KEPT and got == Decimal("100000")


def test_a_second_change_of_unit_does_not_count_the_first_forfeit_again(
    moved_once, units, consultant, sales_manager
):
    deal = moved_once
    money = settlement(deal=deal, kind="change_unit", new_unit=units[4])
    assert money.received == Decimal("95000")
    assert money.forfeit == KEPT
    assert money.outstanding == units[4].list_price - Decimal("90000")
    _change_unit(deal, consultant, sales_manager, units[4])
    deal.refresh_from_db()
    due, got = _sums(deal)
    # Both forfeits stay on top of the price: the lines' money received balances.
    assert due == units[4].list_price + 2 * KEPT
    assert due - got == money.outstanding
    assert deal.forfeited == 2 * KEPT == _kept(deal)


def test_a_third_change_still_counts_both_earlier_forfeits(
    moved_once, units, consultant, sales_manager
):
    deal = moved_once
    _change_unit(deal, consultant, sales_manager, units[4])
    deal.refresh_from_db()
    money = settlement(deal=deal, kind="change_unit", new_unit=units[6])
    assert money.received == Decimal("90000")
    _change_unit(deal, consultant, sales_manager, units[6])
    deal.refresh_from_db()
    due, got = _sums(deal)
    assert due == units[6].list_price + 3 * KEPT
    assert due - got == units[6].list_price - (Decimal("100000") - 3 * KEPT)
    assert deal.forfeited == 3 * KEPT


def test_a_cancellation_after_a_forfeited_change_does_not_pay_the_forfeit_back(
    moved_once, consultant, sales_manager
):
    deal = moved_once
    money = settlement(deal=deal, kind="cancel")
    assert (money.received, money.forfeit, money.refund) == (
        Decimal("95000"),
        KEPT,
        Decimal("90000"),
    )
    change = _cancel(deal, consultant, sales_manager)
    refund = DealRefund.objects.get(change=change)
    assert (refund.received, refund.forfeit, refund.amount) == (
        Decimal("95000.00"),
        KEPT,
        Decimal("90000.00"),
    )
    # Every yuan received is either paid back or kept by a change, once.
    _, got = _sums(deal)
    assert _refunded(deal) + _kept(deal) == got


def test_a_cheaper_unit_after_a_forfeited_change_refunds_only_the_buyers_money(
    units, forfeiting, consultant, own_customer, sales_manager
):
    deal = signed_deal(consultant, own_customer, units[4])
    _change_unit(deal, consultant, sales_manager, units[6])
    deal.refresh_from_db()
    # Paid up to the new price: the forfeit on top of it is still open.
    _pay(consultant, deal, units[6].list_price - Decimal("100000"))
    deal.refresh_from_db()
    assert deal.stage == "contracted"
    money = settlement(deal=deal, kind="change_unit", new_unit=units[0])
    assert money.received == units[6].list_price - KEPT
    over = units[6].list_price - 2 * KEPT - units[0].list_price
    assert over > 0 and money.refund == over
    change = _change_unit(deal, consultant, sales_manager, units[0])
    refund = DealRefund.objects.get(change=change)
    assert (refund.received, refund.forfeit, refund.amount) == (
        units[6].list_price - KEPT,
        KEPT,
        over,
    )
    deal.refresh_from_db()
    assert deal.stage == "paid" and deal.forfeited == 2 * KEPT
    # The buyer's money on the deal is the new price exactly.
    assert settlement(deal=deal, kind="cancel").received == units[0].list_price
    _cancel(deal, consultant, sales_manager)
    _, got = _sums(deal)
    assert _refunded(deal) + _kept(deal) == got


def test_a_change_of_buyer_counts_the_buyers_money_without_the_forfeit(
    moved_once, units, consultant, sales_manager
):
    deal = moved_once
    money = settlement(deal=deal, kind="change_buyer")
    assert (money.received, money.fee) == (Decimal("95000"), Decimal("3000"))
    change = services.deal_change_request(
        actor=consultant,
        opportunity=deal,
        kind="change_buyer",
        reason="更名",
        new_customer=CustomerFactory(assigned_consultant=consultant),
    )
    change = services.deal_change_decide(
        actor=sales_manager, change=change, approve=True
    )
    assert (change.fee, change.forfeit) == (Decimal("3000"), Decimal("0"))
    deal.refresh_from_db()
    # The fee is not on the plan; the earlier forfeit still is.
    due, _ = _sums(deal)
    assert due == units[2].list_price + KEPT and deal.forfeited == KEPT
    assert settlement(deal=deal, kind="cancel").received == Decimal("95000")


def test_the_approver_sees_the_buyers_money_without_the_earlier_forfeit(
    client, moved_once, units, consultant, sales_manager
):
    deal = moved_once
    change = services.deal_change_request(
        actor=consultant,
        opportunity=deal,
        kind="change_unit",
        reason="换房",
        new_unit=units[4],
    )
    client.force_login(sales_manager)
    page = client.get(reverse("sales:approval-list"))
    shown = page.context["changes"][0].money
    assert (shown.received, shown.forfeit) == (Decimal("95000"), KEPT)
    with translation.override("en"):
        asked = confirmations.change_decision(
            DealChange.objects.select_related("opportunity").get(pk=change.pk),
            approve=True,
        )
    facts = dict(asked.facts)
    assert "90,000.00" in str(facts["Received, counted against the new price"])


def test_the_audit_of_the_change_and_of_the_deal_records_the_forfeit(moved_once):
    deal = moved_once
    change = deal.changes.get()
    recorded = [e.changes for e in audit_entries_for(change)]
    assert any(c.get("forfeit", {}).get("new") == "5000.00" for c in recorded)
    recorded = [e.changes for e in audit_entries_for(deal)]
    assert any(c.get("forfeited", {}).get("new") == "5000.00" for c in recorded)


def _backfill() -> None:
    """The data migration, run on the models as they are at it."""
    name = "0040_change_forfeits_backfill"
    state = MigrationExecutor(connection).loader.project_state([("sales", name)])
    importlib.import_module(f"sales.migrations.{name}").backfill(state.apps, None)


def test_the_backfill_takes_forfeits_from_refunds_and_the_plan(
    units, forfeiting, consultant, own_customer, sales_manager
):
    # Before the fix a change to a cheaper unit recorded its forfeit on its refund;
    # a later one to a dearer unit recorded none, counted the first forfeit as the
    # buyer's money again and left only its own forfeit on top of the plan.
    deal = _subscribed(consultant, own_customer, units[6])
    services.payment_plan_create(
        actor=consultant, opportunity=deal, scheme="full", deposit=Decimal("100000")
    )
    _pay(consultant, deal, units[0].list_price + Decimal("10000"))
    first = _change_unit(deal, consultant, sales_manager, units[0])
    deal.refresh_from_db()
    second = _change_unit(deal, consultant, sales_manager, units[2])
    last = PaymentItem.objects.filter(opportunity=deal).order_by("sequence").last()
    PaymentItem.objects.filter(pk=last.pk).update(amount=last.amount - KEPT)
    other = signed_deal(
        consultant, CustomerFactory(assigned_consultant=consultant), units[1]
    )
    only = _change_unit(other, consultant, sales_manager, units[3])
    DealChange.objects.update(forfeit=0)
    with unaudited("the rows as the code before the fix left them"):
        Opportunity.objects.update(forfeited=0)
    _backfill()
    _backfill()  # twice: the same
    for row in (first, second, only, deal, other):
        row.refresh_from_db()
    assert first.forfeit == DealRefund.objects.get(change=first).forfeit == KEPT
    assert second.forfeit == KEPT and only.forfeit == KEPT
    # What stays kept is what the plan still adds on top of the price.
    assert (deal.forfeited, other.forfeited) == (KEPT, KEPT)
    due, got = _sums(deal)
    money = settlement(deal=deal, kind="cancel")
    assert due - got == deal.agreed_price - money.received


def test_the_deal_page_names_what_each_change_kept(client, moved_once, consultant):
    client.force_login(consultant)
    with translation.override("zh-hans"):
        page = client.get(moved_once.get_absolute_url()).content.decode()
    assert "违约金 ¥5,000" in page


def test_a_plan_replaced_after_a_change_keeps_what_the_change_kept(
    moved_once, units, consultant
):
    """The plan's lines still count the forfeit as received: a new scheme chosen
    afterwards adds it on top of the price again, or the buyer would owe the
    forfeit's amount less than the price."""
    deal = moved_once
    services.payment_plan_create(
        actor=consultant, opportunity=deal, scheme="instalments", deposit=KEPT
    )
    due, got = _sums(deal)
    assert due == units[2].list_price + KEPT and got == Decimal("100000")
    assert settlement(deal=deal, kind="cancel").received == Decimal("95000")
