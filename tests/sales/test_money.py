from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from crm_site.models import Notification
from sales import services
from sales.models import DiscountRequest, Opportunity, PaymentItem, Receipt
from sales.pricing import quote
from sales.services.money import plan_lines
from tests.factories import make_building
from tests.helpers import assert_queries_do_not_grow


@pytest.fixture
def building(db):
    return make_building()


@pytest.fixture
def held(building, consultant, own_customer):
    """A deal holding the first unit (list price 3,000,000; floor price 2,850,000)."""
    deal = services.opportunity_open(
        actor=consultant, customer=own_customer, project=building.project
    )
    unit = building.units.order_by("floor", "position").first()
    services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    deal.refresh_from_db()
    return deal


def subscribed(deal, actor):
    services.unit_subscribe(actor=actor, opportunity=deal)
    deal.refresh_from_db()
    return deal


def test_quote_is_list_price_less_the_discount_rounded_to_the_yuan(building):
    unit = building.units.order_by("floor", "position").first()
    priced = quote(unit=unit, discount_percent=Decimal("1.5"))
    assert priced.discount_amount == Decimal("45000")
    assert priced.price == Decimal("2955000")
    assert not priced.below_floor
    assert quote(unit=unit, discount_percent=Decimal("6")).below_floor


def test_discount_within_the_limit_applies_at_once(held, consultant):
    request = services.discount_request(
        actor=consultant, opportunity=held, percent=Decimal("2"), reason="老带新"
    )
    held.refresh_from_db()
    assert request.status == "approved"
    assert held.discount_percent == Decimal("2.00")
    assert subscribed(held, consultant).agreed_price == Decimal("2940000")


def test_discount_above_the_limit_waits_for_the_manager_and_blocks_subscription(
    held, consultant, sales_manager
):
    request = services.discount_request(
        actor=consultant, opportunity=held, percent=Decimal("3"), reason="团购"
    )
    held.refresh_from_db()
    assert request.status == "pending" and held.discount_percent == 0
    assert Notification.objects.filter(user=sales_manager).count() == 1
    with pytest.raises(ValidationError):
        services.unit_subscribe(actor=consultant, opportunity=held)
    services.discount_decide(actor=sales_manager, request=request, approve=True)
    held.refresh_from_db()
    assert held.discount_percent == Decimal("3.00")
    assert Notification.objects.filter(user=consultant).count() == 1
    assert subscribed(held, consultant).agreed_price == Decimal("2910000")


def test_a_discount_below_the_floor_price_needs_approval_even_within_the_limit(
    held, consultant
):
    held.project.discount_limit = Decimal("10")
    held.project.save()
    request = services.discount_request(
        actor=consultant, opportunity=held, percent=Decimal("6"), reason="x"
    )
    assert request.status == "pending"


def test_rejected_discount_changes_nothing_and_deciding_twice_does_nothing(
    held, consultant, sales_manager
):
    request = services.discount_request(
        actor=consultant, opportunity=held, percent=Decimal("4"), reason="x"
    )
    services.discount_decide(
        actor=sales_manager, request=request, approve=False, note="不行"
    )
    services.discount_decide(actor=sales_manager, request=request, approve=True)
    request.refresh_from_db()
    held.refresh_from_db()
    assert request.status == "rejected" and held.discount_percent == 0


def test_a_new_request_withdraws_the_pending_one(held, consultant):
    first = services.discount_request(
        actor=consultant, opportunity=held, percent=Decimal("4"), reason="x"
    )
    services.discount_request(
        actor=consultant, opportunity=held, percent=Decimal("1"), reason="y"
    )
    first.refresh_from_db()
    assert first.status == "withdrawn"
    assert DiscountRequest.objects.filter(status="pending").count() == 0


def test_plan_lines_add_up_to_the_price():
    for scheme in ("full", "mortgage", "instalments"):
        lines = plan_lines(
            total=Decimal("2940000"),
            scheme=scheme,
            start=timezone.localdate(),
            deposit=Decimal("50000"),
        )
        assert sum(line.amount for line in lines) == Decimal("2940000")


def test_payments_make_the_contracted_deal_paid_in_full(held, consultant):
    deal = subscribed(held, consultant)
    items = services.payment_plan_create(
        actor=consultant, opportunity=deal, scheme="full", deposit=Decimal("50000")
    )
    services.receipt_record(
        actor=consultant,
        item=items[0],
        amount=Decimal("50000"),
        received_on=timezone.localdate(),
        method="pos",
    )
    services.opportunity_contract(actor=consultant, opportunity=deal)
    deal.refresh_from_db()
    assert deal.stage == "contracted"
    services.receipt_record(
        actor=consultant,
        item=items[1],
        amount=Decimal("1000000"),
        received_on=timezone.localdate(),
        method="transfer",
    )
    deal.refresh_from_db()
    assert deal.stage == "contracted"
    services.receipt_record(
        actor=consultant,
        item=items[1],
        amount=items[1].amount - Decimal("1000000"),
        received_on=timezone.localdate(),
        method="transfer",
    )
    deal.refresh_from_db()
    assert deal.stage == "paid"
    assert Receipt.objects.count() == 3


def test_overpayment_is_refused_and_nothing_is_recorded(held, consultant):
    deal = subscribed(held, consultant)
    items = services.payment_plan_create(
        actor=consultant, opportunity=deal, scheme="mortgage", deposit=Decimal("50000")
    )
    with pytest.raises(ValidationError):
        services.receipt_record(
            actor=consultant,
            item=items[0],
            amount=Decimal("50000.01"),
            received_on=timezone.localdate(),
            method="pos",
        )
    assert not Receipt.objects.exists()
    assert PaymentItem.objects.get(pk=items[0].pk).received == 0


def test_plan_cannot_be_replaced_once_money_came_in(held, consultant):
    deal = subscribed(held, consultant)
    items = services.payment_plan_create(
        actor=consultant, opportunity=deal, scheme="full", deposit=Decimal("50000")
    )
    services.receipt_record(
        actor=consultant,
        item=items[0],
        amount=Decimal("100"),
        received_on=timezone.localdate(),
        method="cash",
    )
    with pytest.raises(ValidationError):
        services.payment_plan_create(
            actor=consultant,
            opportunity=deal,
            scheme="mortgage",
            deposit=Decimal("50000"),
        )
    assert PaymentItem.objects.count() == 2


def test_contract_needs_a_subscription(held, consultant):
    with pytest.raises(ValidationError):
        services.opportunity_contract(actor=consultant, opportunity=held)


# Views ---------------------------------------------------------------------------


def test_discount_and_approval_through_the_pages(
    client, held, consultant, sales_manager, other_consultant
):
    client.force_login(consultant)
    client.post(
        reverse("sales:opportunity-discount", args=[held.pk]),
        {"percent": "3.5", "reason": "团购"},
    )
    request = DiscountRequest.objects.get()
    assert request.status == "pending"
    assert client.get(reverse("sales:approval-list")).status_code == 403
    client.force_login(sales_manager)
    page = client.get(reverse("sales:approval-list"))
    assert list(page.context["page"].items) == [request]
    client.post(
        reverse("sales:approval-decide", args=[request.pk]),
        {"decision": "approve", "note": "同意", "confirmed": "1"},
    )
    held.refresh_from_db()
    assert held.discount_percent == Decimal("3.50")


def test_bad_discount_input_saves_nothing(client, held, consultant):
    client.force_login(consultant)
    client.post(
        reverse("sales:opportunity-discount", args=[held.pk]),
        {"percent": "120", "reason": ""},
    )
    assert not DiscountRequest.objects.exists()


def test_payment_pages_work_and_refuse_bad_input(client, held, consultant):
    deal = subscribed(held, consultant)
    client.force_login(consultant)
    client.post(
        reverse("sales:payment-plan", args=[deal.pk]),
        {"scheme": "mortgage", "deposit": "50000"},
    )
    items = list(PaymentItem.objects.order_by("sequence"))
    assert len(items) == 3
    url = reverse("sales:receipt-create", args=[deal.pk])
    future = (timezone.localdate() + timedelta(days=2)).isoformat()
    refused = client.post(
        url,
        {
            "item": items[0].pk,
            "amount": "50000",
            "received_on": future,
            "method": "pos",
            "reference": "POS-778",
        },
    )
    assert not Receipt.objects.exists()
    # The deal page again, the message under the date and what was typed kept.
    assert refused.status_code == 400
    form = refused.context["receipt_form"]
    assert list(form.errors) == ["received_on"]
    assert 'value="POS-778"' in refused.content.decode()
    # A payment plan refused the same way opens its section with the message.
    plan = client.post(
        reverse("sales:payment-plan", args=[deal.pk]),
        {"scheme": "mortgage", "deposit": "-1"},
    )
    assert plan.status_code == 400 and "deposit" in plan.context["plan_form"].errors
    client.post(
        url,
        {
            "item": items[0].pk,
            "amount": "50000",
            "received_on": timezone.localdate().isoformat(),
            "method": "pos",
        },
    )
    assert Receipt.objects.count() == 1
    page = client.get(deal.get_absolute_url())
    assert page.context["totals"]["received"] == Decimal("50000")


def test_overdue_list_shows_visible_overdue_items_only(
    client, held, consultant, other_consultant
):
    deal = subscribed(held, consultant)
    services.payment_plan_create(
        actor=consultant,
        opportunity=deal,
        scheme="full",
        deposit=Decimal("50000"),
        start=timezone.localdate() - timedelta(days=40),
    )
    client.force_login(consultant)
    overdue = client.get(reverse("sales:payments-overdue")).context["page"].items
    assert [i.kind for i in overdue] == ["deposit", "full"]
    client.force_login(other_consultant)
    assert client.get(reverse("sales:payments-overdue")).context["page"].items == []


def test_overdue_list_query_count_does_not_grow(client, held, consultant):
    deal = subscribed(held, consultant)
    client.force_login(consultant)
    assert_queries_do_not_grow(
        lambda: client.get(reverse("sales:payments-overdue")),
        lambda: services.payment_plan_create(
            actor=consultant,
            opportunity=deal,
            scheme="instalments",
            deposit=Decimal("50000"),
            start=timezone.localdate() - timedelta(days=400),
        ),
        at_most=8,
    )


def test_print_pages(client, held, consultant, other_consultant):
    client.force_login(consultant)
    selection = client.get(
        reverse("sales:opportunity-print", args=[held.pk, "selection"])
    )
    assert selection.status_code == 200 and "data-print" in selection.content.decode()
    assert (
        client.get(
            reverse("sales:opportunity-print", args=[held.pk, "subscription"])
        ).status_code
        == 404
    )
    deal = subscribed(held, consultant)
    agreement = client.get(
        reverse("sales:opportunity-print", args=[deal.pk, "subscription"])
    )
    assert agreement.status_code == 200 and "3,000,000" in agreement.content.decode()
    # The amount a buyer signs for, in capital numerals (大写金额).
    assert "人民币叁佰万元整" in agreement.content.decode()
    services.payment_plan_create(
        actor=consultant,
        opportunity=deal,
        scheme="instalments",
        deposit=Decimal("50000"),
        start=timezone.localdate(),
    )
    agreement = client.get(
        reverse("sales:opportunity-print", args=[deal.pk, "subscription"])
    ).content.decode()
    assert 'data-testid="deposit"' in agreement
    assert "人民币伍万元整" in agreement
    assert (
        client.get(
            reverse("sales:opportunity-print", args=[deal.pk, "bogus"])
        ).status_code
        == 404
    )
    client.force_login(other_consultant)
    assert (
        client.get(
            reverse("sales:opportunity-print", args=[deal.pk, "subscription"])
        ).status_code
        == 404
    )


def test_contract_through_the_page(client, held, consultant):
    deal = subscribed(held, consultant)
    client.force_login(consultant)
    client.post(
        reverse("sales:opportunity-contract", args=[deal.pk]), {"confirmed": "1"}
    )
    deal.refresh_from_db()
    assert deal.stage == Opportunity.Stage.CONTRACTED
    assert deal.unit.status == "contracted"


def test_a_discount_granted_at_once_leaves_an_audit_entry(held, consultant):
    from crm_site.audit import audit_entries_for

    services.discount_request(
        actor=consultant, opportunity=held, percent=Decimal("2"), reason="老带新"
    )
    entry = audit_entries_for(held).first()
    assert entry.changes["discount_percent"]["new"] == "2"
