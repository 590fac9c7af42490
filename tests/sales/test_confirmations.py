"""Subscribing, signing, releasing and a manager's decisions ask first: a POST without
confirmed=1 shows what would happen and changes nothing; confirmed, the action runs
and its message says what changed and what comes next."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from sales import services
from sales.models import DealChange, DiscountRequest, Opportunity, Unit, UnitHold
from tests.factories import make_building
from tests.helpers import assert_queries_do_not_grow

EN = {"accept-language": "en"}


@pytest.fixture
def building(db):
    return make_building()


@pytest.fixture
def held(building, consultant, own_customer):
    """Holds the first unit (list price 3,000,000) with a 2 % discount (60,000)."""
    deal = services.opportunity_open(
        actor=consultant, customer=own_customer, project=building.project
    )
    unit = building.units.order_by("floor", "position").first()
    services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    services.discount_request(
        actor=consultant, opportunity=deal, percent=Decimal("2"), reason="老带新"
    )
    deal.refresh_from_db()
    return deal


def _facts(response) -> dict[str, str]:
    return dict(response.context["confirmation"].facts)


def _said(response) -> str:
    return " ".join(str(m) for m in get_messages(response.wsgi_request))


def test_subscribing_unconfirmed_shows_unit_buyer_and_amounts_and_changes_nothing(
    client, held, consultant
):
    client.force_login(consultant)
    url = reverse("sales:opportunity-subscribe", args=[held.pk])
    response = client.post(url, headers=EN)
    assert response.status_code == 200
    assert response.templates[0].name == "components/confirm_page.html"
    facts = _facts(response)
    assert facts["Unit"] == str(held.unit)
    assert facts["Buyer"] == held.customer.name
    assert facts["List price"] == "¥3,000,000.00"
    assert facts["Discount"] == "2% (−¥60,000.00)"
    assert facts["Subscription price"] == "¥2,940,000.00"
    page = response.content.decode()
    assert f'action="{url}"' in page and 'name="confirmed" value="1"' in page
    held.refresh_from_db()
    assert held.stage == Opportunity.Stage.RESERVED and held.agreed_price is None
    assert Unit.objects.get(pk=held.unit_id).status == Unit.Status.RESERVED


def test_confirmed_subscription_acts_and_says_the_unit_price_and_next_step(
    client, held, consultant
):
    client.force_login(consultant)
    response = client.post(
        reverse("sales:opportunity-subscribe", args=[held.pk]),
        {"confirmed": "1"},
        headers=EN,
    )
    assert response.status_code == 302
    held.refresh_from_db()
    assert held.stage == Opportunity.Stage.SUBSCRIBED
    said = _said(response)
    assert str(held.unit) in said and held.customer.name in said
    assert "¥2,940,000.00" in said
    assert "Next: enter the payment plan with the deposit" in said


def test_a_pending_discount_is_named_before_subscribing(client, held, consultant):
    services.discount_request(
        actor=consultant, opportunity=held, percent=Decimal("4"), reason="团购"
    )
    client.force_login(consultant)
    response = client.post(
        reverse("sales:opportunity-subscribe", args=[held.pk]), headers=EN
    )
    assert "waits for a sales manager" in response.content.decode()


def test_contract_asks_with_price_deposit_and_outstanding_then_names_the_next_payment(
    client, held, consultant
):
    services.unit_subscribe(actor=consultant, opportunity=held)
    (deposit, down, _mortgage) = services.payment_plan_create(
        actor=consultant,
        opportunity=held,
        scheme="mortgage",
        deposit=Decimal("50000"),
        start=date(2026, 12, 10),
    )
    services.receipt_record(
        actor=consultant,
        item=deposit,
        amount=Decimal("50000"),
        received_on=date(2026, 12, 9),
        method="transfer",
    )
    client.force_login(consultant)
    url = reverse("sales:opportunity-contract", args=[held.pk])
    response = client.post(url, headers=EN)
    facts = _facts(response)
    assert facts["Contract price"] == "¥2,940,000.00"
    assert facts["Deposit"] == "¥50,000.00 due Dec. 10, 2026, received"
    assert facts["Received"] == "¥50,000.00"
    assert facts["Outstanding"] == "¥2,890,000.00"
    held.refresh_from_db()
    assert held.stage == Opportunity.Stage.SUBSCRIBED

    response = client.post(url, {"confirmed": "1"}, headers=EN)
    held.refresh_from_db()
    assert held.stage == Opportunity.Stage.CONTRACTED
    said = _said(response)
    assert "Contract signed for unit" in said and "¥2,940,000.00" in said
    assert "¥2,890,000.00 outstanding" in said
    assert f"Down payment of ¥{down.amount:,.2f} due Jan. 9, 2027" in said


def test_release_asks_then_puts_the_unit_back_on_sale(client, held, consultant):
    client.force_login(consultant)
    url = reverse("sales:hold-release", args=[held.pk])
    response = client.post(url, headers=EN)
    assert _facts(response)["Unit"] == str(held.unit)
    assert UnitHold.objects.get(opportunity=held).status == UnitHold.Status.ACTIVE

    response = client.post(url, {"confirmed": "1"}, headers=EN)
    assert Unit.objects.get(pk=held.unit_id).status == Unit.Status.AVAILABLE
    said = _said(response)
    assert f"Unit {held.unit} is on sale again" in said
    assert "hold another unit" in said


def test_the_deal_page_carries_the_dialogs_of_its_actions(client, held, consultant):
    client.force_login(consultant)
    page = client.get(
        reverse("sales:opportunity-detail", args=[held.pk]), headers=EN
    ).content.decode()
    for action in ("subscribe", "release"):
        assert f'data-confirm-dialog="confirm-{action}"' in page
        assert f'<dialog class="confirm-dialog" id="confirm-{action}"' in page
    assert "¥2,940,000.00" in page


@pytest.fixture
def asked(held, consultant):
    """A 4 % discount, above the 3 % limit: waits for the manager."""
    return services.discount_request(
        actor=consultant, opportunity=held, percent=Decimal("4"), reason="团购"
    )


def test_approving_a_discount_asks_with_the_new_price_then_says_it(
    client, asked, held, sales_manager, consultant
):
    client.force_login(sales_manager)
    url = reverse("sales:approval-decide", args=[asked.pk])
    response = client.post(url, {"decision": "approve", "note": "同意"}, headers=EN)
    facts = _facts(response)
    assert facts["Current price"] == "¥2,940,000.00"
    assert facts["Price after the discount"] == "¥2,880,000.00"
    assert facts["Asked by"] == consultant.display_name
    asked.refresh_from_db()
    assert asked.status == DiscountRequest.Status.PENDING
    # The page sends the same fields again, confirmed.
    resent = dict(response.context["resent"])
    assert resent == {"decision": "approve", "note": "同意"}
    response = client.post(url, {**resent, "confirmed": "1"}, headers=EN)
    asked.refresh_from_db()
    assert asked.status == DiscountRequest.Status.APPROVED
    said = _said(response)
    assert "approved: the price is now ¥2,880,000.00" in said
    assert consultant.display_name in said


def test_rejecting_a_discount_asks_then_keeps_the_price(
    client, asked, held, sales_manager
):
    client.force_login(sales_manager)
    url = reverse("sales:approval-decide", args=[asked.pk])
    response = client.post(url, {"decision": "reject"}, headers=EN)
    assert "keeps its price of ¥2,940,000.00" in response.content.decode()
    client.post(url, {"decision": "reject", "confirmed": "1"}, headers=EN)
    asked.refresh_from_db()
    held.refresh_from_db()
    assert asked.status == DiscountRequest.Status.REJECTED
    assert held.discount_percent == Decimal("2.00")


def test_approving_a_cancellation_asks_that_the_unit_goes_back_on_sale(
    client, held, consultant, sales_manager
):
    services.unit_subscribe(actor=consultant, opportunity=held)
    change = services.deal_change_request(
        actor=consultant, opportunity=held, kind="cancel", reason="资金"
    )
    client.force_login(sales_manager)
    url = reverse("sales:deal-change-decide", args=[change.pk])
    response = client.post(url, {"decision": "approve"}, headers=EN)
    text = response.content.decode()
    assert f"unit {held.unit.number} goes back on sale" in text
    assert Unit.objects.get(pk=held.unit_id).status == Unit.Status.SUBSCRIBED
    response = client.post(url, {"decision": "approve", "confirmed": "1"}, headers=EN)
    change.refresh_from_db()
    assert change.status == DealChange.Status.APPROVED
    assert Unit.objects.get(pk=held.unit_id).status == Unit.Status.AVAILABLE
    assert "Change approved: The subscription is cancelled" in _said(response)


def test_the_approvals_page_carries_a_dialog_per_decision_without_more_queries(
    client, building, consultant, sales_manager, asked
):
    client.force_login(sales_manager)
    page = client.get(reverse("sales:approval-list")).content.decode()
    for decision in ("approve", "reject"):
        assert f'id="confirm-discount-{asked.pk}-{decision}"' in page

    def grow():
        from tests.factories import CustomerFactory

        for unit in building.units.order_by("pk")[1:4]:
            deal = services.opportunity_open(
                actor=consultant,
                customer=CustomerFactory(assigned_consultant=consultant),
                project=building.project,
            )
            services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
            services.discount_request(
                actor=consultant, opportunity=deal, percent=Decimal("4"), reason="x"
            )

    assert_queries_do_not_grow(
        lambda: client.get(reverse("sales:approval-list")), grow, at_most=12
    )
