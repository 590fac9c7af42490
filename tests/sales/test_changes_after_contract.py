"""Changes after contract (退房 / 换房 / 更名): approval, the project's refund and
forfeit rules, the history they leave, and two managers deciding at once."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone, translation

from crm_site.audit import audit_entries_for
from customers import services as customer_services
from customers.models import Interaction
from sales import confirmations, services
from sales.forms import StageMoveForm
from sales.models import (
    ChangeRule,
    CoBuyer,
    DealChange,
    DealRefund,
    Opportunity,
    PaymentItem,
    Selection,
    StageChange,
    Unit,
)
from sales.services.changes import settlement
from sales.services.opening import selection_make
from tests.factories import CustomerFactory, make_building
from tests.opening_fixtures import enter, make_deposit, make_session

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate


def _subscribed(consultant, customer, unit) -> Opportunity:
    deal = services.opportunity_open(
        actor=consultant, customer=customer, project=unit.building.project
    )
    services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    services.unit_subscribe(actor=consultant, opportunity=deal)
    deal.refresh_from_db()
    return deal


def _pay(consultant, deal: Opportunity, amount: Decimal) -> None:
    """Receive ``amount`` on the plan's lines in order."""
    for item in deal.payment_items.order_by("sequence"):
        if amount <= 0:
            return
        take = min(item.outstanding, amount)
        if take > 0:
            services.receipt_record(
                actor=consultant,
                item=item,
                amount=take,
                received_on=TODAY(),
                method="transfer",
            )
            amount -= take


def signed_deal(
    consultant, customer, unit, *, received: Decimal = Decimal("100000")
) -> Opportunity:
    """A contracted deal with a full-payment plan and ``received`` paid."""
    deal = _subscribed(consultant, customer, unit)
    services.payment_plan_create(
        actor=consultant, opportunity=deal, scheme="full", deposit=Decimal("100000")
    )
    _pay(consultant, deal, received)
    services.opportunity_contract(actor=consultant, opportunity=deal)
    deal.refresh_from_db()
    return deal


def rule(project, **values) -> ChangeRule:
    return ChangeRule.objects.create(project=project, **values)


@pytest.fixture
def building(db):
    return make_building()


@pytest.fixture
def units(building):
    return list(building.units.order_by("list_price", "pk"))


@pytest.fixture
def deal(consultant, own_customer, units):
    return signed_deal(consultant, own_customer, units[-1])


def _cancel(deal, consultant, manager, reason="客户资金问题") -> DealChange:
    change = services.deal_change_request(
        actor=consultant, opportunity=deal, kind="cancel", reason=reason
    )
    return services.deal_change_decide(actor=manager, change=change, approve=True)


def test_a_cancelled_contract_forfeits_by_the_rule_and_owes_the_rest_back(
    deal, consultant, sales_manager
):
    rule(deal.project, forfeit_basis="fixed", forfeit_contracted=Decimal("20000"))
    unit = deal.unit
    change = _cancel(deal, consultant, sales_manager)
    deal.refresh_from_db()
    unit.refresh_from_db()
    assert (deal.stage, unit.status) == ("lost", "available")
    refund = DealRefund.objects.get(change=change)
    assert (refund.received, refund.forfeit, refund.amount, refund.status) == (
        Decimal("100000.00"),
        Decimal("20000.00"),
        Decimal("80000.00"),
        "due",
    )
    step = StageChange.objects.filter(opportunity=deal, to_stage="lost").get()
    assert step.event == "sales.contract_cancelled" and step.note == "客户资金问题"
    codes = set(
        Interaction.objects.filter(customer=deal.customer).values_list(
            "event", flat=True
        )
    )
    assert "sales.refund_due" in codes
    assert audit_entries_for(refund).filter(action="create").exists()


def test_a_percent_forfeit_is_of_the_agreed_price_and_never_more_than_received(
    deal, consultant, sales_manager
):
    money = settlement(
        deal=deal,
        kind="cancel",
        rule=ChangeRule(forfeit_basis="percent", forfeit_contracted=Decimal("1")),
    )
    expected = (deal.agreed_price / 100).quantize(Decimal("0.01"))
    assert money.forfeit == expected and money.refund == Decimal("100000") - expected
    rule(deal.project, forfeit_basis="percent", forfeit_contracted=Decimal("10"))
    change = _cancel(deal, consultant, sales_manager)
    refund = change.refund
    # 10 % of ~3 million is more than the 100,000 received: all of it is kept.
    assert (refund.forfeit, refund.amount, refund.status) == (
        Decimal("100000.00"),
        Decimal("0.00"),
        "paid",
    )


def test_the_subscription_rate_applies_before_contract(
    consultant, own_customer, units, sales_manager
):
    deal = _subscribed(consultant, own_customer, units[0])
    services.payment_plan_create(
        actor=consultant, opportunity=deal, scheme="full", deposit=Decimal("50000")
    )
    _pay(consultant, deal, Decimal("50000"))
    rule(
        deal.project,
        forfeit_basis="fixed",
        forfeit_subscribed=Decimal("10000"),
        forfeit_contracted=Decimal("40000"),
    )
    change = _cancel(deal, consultant, sales_manager)
    assert change.refund.amount == Decimal("40000.00")
    assert change.stage == "subscribed"


def test_without_a_rule_everything_received_is_refunded(
    deal, consultant, sales_manager
):
    change = _cancel(deal, consultant, sales_manager)
    assert (change.refund.forfeit, change.refund.amount) == (
        Decimal("0.00"),
        Decimal("100000.00"),
    )


def test_a_signed_contract_is_lost_only_through_an_approved_change(deal, consultant):
    with pytest.raises(ValidationError):
        deal.move_to("lost", actor=consultant, reason="other")
    assert not deal.can_move_to("lost")
    form = StageMoveForm(opportunity=deal)
    assert "lost" not in dict(form.fields["stage"].choices)
    pending = DealChange(opportunity=deal, status="pending")
    with pytest.raises(ValidationError):
        deal.move_to("lost", actor=consultant, reason="other", change=pending)


def test_a_rejected_change_changes_nothing_and_deciding_twice_does_nothing(
    deal, consultant, sales_manager, team
):
    from crm_site.roles import Role
    from tests.factories import UserFactory

    change = services.deal_change_request(
        actor=consultant, opportunity=deal, kind="cancel", reason="x"
    )
    services.deal_change_decide(actor=sales_manager, change=change, approve=False)
    deal.refresh_from_db()
    assert deal.stage == "contracted" and not DealRefund.objects.exists()
    second = UserFactory(username="m2", team=team, role=Role.SALES_MANAGER)
    again = services.deal_change_decide(actor=second, change=change, approve=True)
    assert again.status == "rejected" and again.decided_by == sales_manager
    deal.refresh_from_db()
    assert deal.stage == "contracted"


def test_a_change_asked_at_contract_is_refused_once_the_deal_moved_on(
    deal, consultant, sales_manager, units
):
    change = services.deal_change_request(
        actor=consultant,
        opportunity=deal,
        kind="change_unit",
        reason="换房",
        new_unit=units[0],
    )
    _pay(consultant, deal, deal.agreed_price)
    deal.refresh_from_db()
    assert deal.stage == "paid"
    with pytest.raises(ValidationError):
        services.deal_change_decide(actor=sales_manager, change=change, approve=True)
    with pytest.raises(ValidationError):
        services.deal_change_request(
            actor=consultant,
            opportunity=deal,
            kind="change_unit",
            reason="x",
            new_unit=units[1],
        )


def test_a_paid_deal_cancelled_is_a_refund(deal, consultant, sales_manager):
    _pay(consultant, deal, deal.agreed_price)
    deal.refresh_from_db()
    assert deal.stage == "paid"
    rule(deal.project, forfeit_basis="fixed", forfeit_contracted=Decimal("30000"))
    change = _cancel(deal, consultant, sales_manager)
    deal.refresh_from_db()
    assert deal.stage == "lost"
    assert change.refund.amount == deal.agreed_price - Decimal("30000")


def test_a_change_of_unit_after_contract_reprices_and_keeps_the_money(
    deal, consultant, sales_manager, units
):
    old, new = deal.unit, units[0]
    change = services.deal_change_request(
        actor=consultant,
        opportunity=deal,
        kind="change_unit",
        reason="换低层",
        new_unit=new,
    )
    services.deal_change_decide(actor=sales_manager, change=change, approve=True)
    deal.refresh_from_db()
    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.status, new.status, deal.stage) == (
        "available",
        "contracted",
        "contracted",
    )
    assert deal.unit == new and deal.agreed_price == new.list_price
    items = list(deal.payment_items.all())
    assert sum(i.amount for i in items) == deal.agreed_price
    assert sum(i.received for i in items) == Decimal("100000")
    assert not DealRefund.objects.exists()
    assert Interaction.objects.filter(event="sales.unit_changed_repriced").exists()


def test_a_cheaper_unit_than_the_money_received_owes_the_difference_back(
    consultant, own_customer, units, sales_manager
):
    cheap, dear = units[0], units[-1]
    deal = signed_deal(
        consultant, own_customer, dear, received=cheap.list_price + Decimal("5000")
    )
    change = services.deal_change_request(
        actor=consultant,
        opportunity=deal,
        kind="change_unit",
        reason="x",
        new_unit=cheap,
    )
    services.deal_change_decide(actor=sales_manager, change=change, approve=True)
    deal.refresh_from_db()
    refund = DealRefund.objects.get(change=change)
    assert refund.amount == Decimal("5000.00")
    # Everything due is received: the deal is paid in full.
    assert deal.stage == "paid"


def test_a_unit_change_that_does_not_keep_the_money_adds_the_forfeit(
    deal, consultant, sales_manager, units
):
    rule(
        deal.project,
        forfeit_basis="fixed",
        forfeit_contracted=Decimal("20000"),
        unit_change_keeps_money=False,
    )
    change = services.deal_change_request(
        actor=consultant,
        opportunity=deal,
        kind="change_unit",
        reason="x",
        new_unit=units[0],
    )
    services.deal_change_decide(actor=sales_manager, change=change, approve=True)
    deal.refresh_from_db()
    due = sum(i.amount for i in PaymentItem.objects.filter(opportunity=deal))
    assert due == deal.agreed_price + Decimal("20000")


def test_a_change_of_buyer_after_contract_charges_the_fee_and_keeps_only_the_new_household(
    deal, consultant, sales_manager, own_customer
):
    rule(deal.project, buyer_change_fee=Decimal("3000"))
    spouse = CustomerFactory(name="王芳", assigned_consultant=consultant)
    customer_services.household_link(
        actor=consultant, customer=own_customer, other=spouse, role="spouse"
    )
    child = CustomerFactory(name="王小明", assigned_consultant=consultant)
    customer_services.household_link(
        actor=consultant, customer=own_customer, other=child, role="child"
    )
    stranger = CustomerFactory(name="赵六", assigned_consultant=consultant)
    # Co-buyers are settled before contract; set them as they were signed.
    CoBuyer.objects.bulk_create(
        [CoBuyer(opportunity=deal, customer=c) for c in (spouse, child)]
    )
    change = services.deal_change_request(
        actor=consultant,
        opportunity=deal,
        kind="change_buyer",
        reason="更名给配偶",
        new_customer=spouse,
    )
    services.deal_change_decide(actor=sales_manager, change=change, approve=True)
    change.refresh_from_db()
    deal.refresh_from_db()
    assert deal.customer == spouse and change.fee == Decimal("3000.00")
    # The spouse is now the buyer, the child stays (same household).
    assert list(deal.co_buyers.values_list("customer_id", flat=True)) == [child.pk]
    assert Interaction.objects.filter(
        customer=spouse, event="sales.change_fee"
    ).exists()
    change2 = services.deal_change_request(
        actor=consultant,
        opportunity=deal,
        kind="change_buyer",
        reason="更名",
        new_customer=stranger,
    )
    services.deal_change_decide(actor=sales_manager, change=change2, approve=True)
    assert not deal.co_buyers.exists()


def test_a_unit_from_an_opening_day_selection_is_released_on_cancel(
    consultant, sales_manager
):
    building = make_building(project_name="安居·开盘苑")
    project = building.project
    unit = building.units.order_by("pk").first()
    session = make_session(project=project, created_by=sales_manager, units=[unit])
    deposit = make_deposit(project=project, consultant=consultant)
    entry = enter(session, deposit)
    selection = selection_make(
        session=session, entry=entry, unit=unit, channel="on_site", actor=consultant
    )
    deal = selection.opportunity
    services.opportunity_contract(actor=consultant, opportunity=deal)
    deal.refresh_from_db()
    change = _cancel(deal, consultant, sales_manager)
    selection.refresh_from_db()
    unit.refresh_from_db()
    assert selection.cancelled_at is not None and unit.status == "available"
    # The deposit applied at the selection is the money received.
    assert change.refund.received == deposit.amount
    assert not Selection.objects.filter(unit=unit, cancelled_at=None).exists()


def test_a_unit_change_of_a_selected_unit_ends_the_selection(consultant, sales_manager):
    building = make_building(project_name="安居·开盘苑")
    first, other = building.units.order_by("pk")[:2]
    session = make_session(
        project=building.project, created_by=sales_manager, units=[first]
    )
    entry = enter(
        session, make_deposit(project=building.project, consultant=consultant)
    )
    selection = selection_make(
        session=session, entry=entry, unit=first, channel="on_site", actor=consultant
    )
    change = services.deal_change_request(
        actor=consultant,
        opportunity=selection.opportunity,
        kind="change_unit",
        reason="x",
        new_unit=other,
    )
    services.deal_change_decide(actor=sales_manager, change=change, approve=True)
    selection.refresh_from_db()
    assert selection.cancelled_at is not None


def test_the_manager_sees_the_refund_before_approving(deal, consultant):
    rule(deal.project, forfeit_basis="fixed", forfeit_contracted=Decimal("20000"))
    change = services.deal_change_request(
        actor=consultant, opportunity=deal, kind="cancel", reason="x"
    )
    with translation.override("en"):
        asked = confirmations.change_decision(change, approve=True)
        facts = {str(k): v for k, v in asked.facts}
        consequence = str(asked.consequence)
    assert facts["Refund to the buyer"] == "¥80,000.00"
    assert facts["Forfeit (project rule)"] == "¥20,000.00"
    assert "¥80,000.00" in consequence


@pytest.mark.django_db(transaction=True)
def test_two_managers_approving_at_once_cancel_once(team):
    from crm_site.roles import Role
    from tests.factories import UserFactory

    consultant = UserFactory(username="c1", team=team, role=Role.CONSULTANT)
    managers = [
        UserFactory(username=f"m{n}", team=team, role=Role.SALES_MANAGER)
        for n in (1, 2)
    ]
    building = make_building()
    customer = CustomerFactory(assigned_consultant=consultant)
    deal = signed_deal(consultant, customer, building.units.order_by("pk").first())
    change = services.deal_change_request(
        actor=consultant, opportunity=deal, kind="cancel", reason="x"
    )
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def approve(manager):
        try:
            barrier.wait()
            services.deal_change_decide(actor=manager, change=change, approve=True)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(m,)) for m in managers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert DealRefund.objects.filter(opportunity=deal).count() == 1
    assert StageChange.objects.filter(opportunity=deal, to_stage="lost").count() == 1
    assert Unit.objects.get(pk=deal.unit_id).status == "available"


# The customer's stage follows what they still have -------------------------------


def _stage_audits(customer) -> list[dict]:
    return [
        entry.changes["stage"]
        for entry in audit_entries_for(customer).filter(changes__has_key="stage")
    ]


def test_a_cancelled_only_deal_takes_its_buyer_back_to_prospect_audited(
    deal, consultant, sales_manager, own_customer
):
    own_customer.refresh_from_db()
    assert own_customer.stage == "buyer"
    _cancel(deal, consultant, sales_manager)
    own_customer.refresh_from_db()
    assert own_customer.stage == "prospect"
    assert _stage_audits(own_customer)[0] == {"old": "buyer", "new": "prospect"}
    assert audit_entries_for(own_customer).first().actor == sales_manager


def test_a_buyer_with_another_live_deal_stays_a_buyer_after_a_cancellation(
    deal, consultant, sales_manager, own_customer
):
    other = make_building(project_name="安居·江南府")
    _subscribed(consultant, own_customer, other.units.order_by("pk").first())
    _cancel(deal, consultant, sales_manager)
    own_customer.refresh_from_db()
    assert own_customer.stage == "buyer"


def test_an_owner_stays_an_owner_after_a_cancellation(
    deal, consultant, sales_manager, own_customer
):
    customer_services.customer_update(
        actor=consultant, customer=own_customer, stage="owner"
    )
    _cancel(deal, consultant, sales_manager)
    own_customer.refresh_from_db()
    assert own_customer.stage == "owner"


def test_the_old_buyer_of_an_approved_change_of_buyer_goes_back_to_prospect(
    deal, consultant, sales_manager, own_customer
):
    new_buyer = CustomerFactory(name="赵六", assigned_consultant=consultant)
    change = services.deal_change_request(
        actor=consultant,
        opportunity=deal,
        kind="change_buyer",
        reason="更名",
        new_customer=new_buyer,
    )
    services.deal_change_decide(actor=sales_manager, change=change, approve=True)
    own_customer.refresh_from_db()
    new_buyer.refresh_from_db()
    assert (own_customer.stage, new_buyer.stage) == ("prospect", "buyer")
    assert _stage_audits(own_customer)[0] == {"old": "buyer", "new": "prospect"}


def test_a_co_buyer_of_another_live_deal_stays_a_buyer_after_a_cancellation(
    deal, consultant, sales_manager, own_customer
):
    other = make_building(project_name="安居·江南府")
    partner = CustomerFactory(name="孙八", assigned_consultant=consultant)
    partners_deal = _subscribed(consultant, partner, other.units.order_by("pk")[0])
    CoBuyer.objects.create(opportunity=partners_deal, customer=own_customer)
    _cancel(deal, consultant, sales_manager)
    own_customer.refresh_from_db()
    assert own_customer.stage == "buyer"
