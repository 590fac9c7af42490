"""Money owed back once: a change to a cheaper unit refunds the excess, and what is
refunded is no longer the buyer's money on the deal — a later change or a
cancellation must not pay it back a second time."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db.models import Sum

from sales import services
from sales.models import DealRefund, PaymentItem
from sales.services.changes import settlement
from tests.factories import make_building
from tests.sales.test_changes_after_contract import _pay, _subscribed

pytestmark = pytest.mark.django_db


@pytest.fixture
def units(db):
    return list(make_building().units.order_by("list_price", "pk"))


def _change(deal, consultant, manager, unit):
    change = services.deal_change_request(
        actor=consultant,
        opportunity=deal,
        kind="change_unit",
        reason="换房",
        new_unit=unit,
    )
    return services.deal_change_decide(actor=manager, change=change, approve=True)


def _over_paid_deal(consultant, customer, units, manager):
    """A subscribed deal on the dearest unit, paid 5,000 more than the cheapest
    unit's price, then moved to the cheapest: 5,000 is owed back."""
    cheap, dear = units[0], units[-1]
    deal = _subscribed(consultant, customer, dear)
    services.payment_plan_create(
        actor=consultant, opportunity=deal, scheme="full", deposit=Decimal("100000")
    )
    _pay(consultant, deal, cheap.list_price + Decimal("5000"))
    _change(deal, consultant, manager, cheap)
    deal.refresh_from_db()
    assert deal.stage == "subscribed"
    assert DealRefund.objects.get(opportunity=deal).amount == Decimal("5000.00")
    return deal


def _refunded(deal) -> Decimal:
    return DealRefund.objects.filter(opportunity=deal).aggregate(s=Sum("amount"))["s"]


def _received(deal) -> Decimal:
    return PaymentItem.objects.filter(opportunity=deal).aggregate(s=Sum("received"))[
        "s"
    ]


def test_a_second_change_to_a_unit_of_the_same_price_refunds_nothing_more(
    consultant, own_customer, units, sales_manager
):
    deal = _over_paid_deal(consultant, own_customer, units, sales_manager)
    assert units[1].list_price == units[0].list_price
    _change(deal, consultant, sales_manager, units[1])
    assert _refunded(deal) == Decimal("5000.00")


def test_a_cancellation_after_a_refunded_unit_change_pays_back_only_what_is_left(
    consultant, own_customer, units, sales_manager
):
    deal = _over_paid_deal(consultant, own_customer, units, sales_manager)
    money = settlement(deal=deal, kind="cancel")
    assert money.refund == _received(deal) - Decimal("5000")
    change = services.deal_change_request(
        actor=consultant, opportunity=deal, kind="cancel", reason="放弃"
    )
    services.deal_change_decide(actor=sales_manager, change=change, approve=True)
    # Everything received goes back once: never more than the buyer paid.
    assert _refunded(deal) == _received(deal)


def test_a_dearer_unit_after_a_refund_asks_for_what_the_buyer_no_longer_has(
    consultant, own_customer, units, sales_manager
):
    deal = _over_paid_deal(consultant, own_customer, units, sales_manager)
    dear = units[-2]
    money = settlement(deal=deal, kind="change_unit", new_unit=dear)
    _change(deal, consultant, sales_manager, dear)
    deal.refresh_from_db()
    items = PaymentItem.objects.filter(opportunity=deal)
    due = sum(i.amount for i in items)
    got = sum(i.received for i in items)
    # The buyer's money on the deal is what they paid less what was paid back.
    net = got - _refunded(deal)
    assert money.outstanding == deal.agreed_price - net
    assert due - got == deal.agreed_price - net
