"""Customer value (customers.value): the contributions sales, marketing and service
register, the fact table the refresh keeps by triggers, the tiers, and merges."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from django.utils import timezone

from crm_site.models import FactDirty
from customers import value
from customers.merge_handlers import connect as connect_merge_handlers
from customers.models import Customer, CustomerValue, ValueTier
from customers.services.merge import customer_merge
from marketing.models import Referral
from sales.models import Opportunity
from service import services as service_services
from service.models import Chargeback, Contractor, WorkOrder
from tests.factories import CustomerFactory, make_building
from tests.insight_fixtures import facts_refreshed, sell

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _tiers(db):
    # The migration's defaults, again after a transactional test emptied the tables.
    from customers.value import default_tiers_create

    default_tiers_create()


FACT = "customers.value"


@pytest.fixture
def building(db):
    return make_building(floors=3, per_floor=4, skipped=())


def row(customer) -> CustomerValue:
    return CustomerValue.objects.select_related("tier").get(customer_id=customer.pk)


def refreshed() -> None:
    facts_refreshed(FACT)


def request_for(customer, agent):
    return service_services.request_create(
        actor=agent,
        customer=customer,
        kind="repair",
        category="plumbing",
        severity="high",
        channel="phone",
        description="卫生间漏水",
    )


_names = itertools.count()


def a_contractor() -> Contractor:
    return Contractor.objects.create(name=f"安居防水{next(_names)}", trade="防水")


def work_order(request, user, *, cost: str, status: str = "done", contractor=None):
    return WorkOrder.objects.create(
        request=request,
        task="修",
        assignee_kind="contractor",
        contractor=contractor or a_contractor(),
        status=status,
        due_at=timezone.now(),
        cost=Decimal(cost),
        created_by=user,
    )


# Contributions ------------------------------------------------------------------------


def test_a_contracted_deal_counts_its_agreed_price_and_a_subscription_does_not(
    building, consultant
):
    signed = sell(building, consultant, contract=True)
    paid = sell(building, consultant, contract=True, pay=True)
    subscribed = sell(building, consultant, contract=False)
    refreshed()
    assert row(signed.customer).contracted == signed.agreed_price
    assert row(paid.customer).contracted == paid.agreed_price
    assert row(paid.customer).project_id == building.project_id
    assert row(subscribed.customer).contracted == 0
    assert row(subscribed.customer).score == 0


def test_a_referrer_is_credited_with_the_friends_contracted_value(building, consultant):
    referrer = CustomerFactory(assigned_consultant=consultant, stage="owner")
    friend_deal = sell(building, consultant, contract=True)
    Referral.objects.create(
        referrer=referrer, friend=friend_deal.customer, recorded_by=consultant
    )
    refreshed()
    fact = row(referrer)
    assert fact.referred == friend_deal.agreed_price
    assert fact.contracted == 0
    # Half of a referred buyer's contracted value counts (the default weight).
    assert fact.score == friend_deal.agreed_price / 2
    # The friend keeps their own value: a home is counted for the friend and credited
    # (in part) to the referrer, never taken from the friend.
    assert row(friend_deal.customer).contracted == friend_deal.agreed_price


def test_service_cost_is_work_orders_less_chargebacks(consultant, service_agent):
    owner = CustomerFactory(assigned_consultant=consultant, stage="owner")
    request = request_for(owner, service_agent)
    contractor = a_contractor()
    done = work_order(request, service_agent, cost="3000", contractor=contractor)
    work_order(request, service_agent, cost="500", status="scheduled")
    work_order(request, service_agent, cost="9999", status="cancelled")
    Chargeback.objects.create(
        contractor=contractor,
        work_order=done,
        request=request,
        amount=Decimal("1200"),
        reason="返工",
        created_by=service_agent,
    )
    refreshed()
    fact = row(owner)
    assert fact.cost == Decimal("2300.00")
    assert fact.score == Decimal("-2300.00")


def test_a_function_contribution_adds_to_its_part(consultant):
    customer = CustomerFactory(assigned_consultant=consultant)
    bonus = value.Contribution(
        key="tests.bonus",
        label="bonus",
        part="contracted",
        function=lambda ids: (
            {customer.pk: Decimal("7000000")}
            if ids is None or customer.pk in ids
            else {}
        ),
    )
    value.register_contribution(bonus)
    try:
        FactDirty.objects.create(fact=FACT, key=customer.pk)
        refreshed()
        assert row(customer).contracted == Decimal("7000000")
        assert row(customer).tier.name == "黄金"
        value.rebuild_fact()
        assert row(customer).contracted == Decimal("7000000")
    finally:
        value.unregister_contribution("tests.bonus")


def test_a_contribution_gives_sql_or_a_function_and_a_known_part():
    with pytest.raises(ValueError):
        value.Contribution(key="x", label="x", part="profit", sql="SELECT 1")
    with pytest.raises(ValueError):
        value.Contribution(key="x", label="x", part="cost")
    with pytest.raises(ValueError):
        value.Contribution(key="x", label="x", part="cost", sql="SELECT 1")


# The refresh ---------------------------------------------------------------------------


def test_signing_a_contract_raises_the_value_after_the_refresh(building, consultant):
    from sales import services

    deal = sell(building, consultant, contract=False)
    refreshed()
    assert row(deal.customer).contracted == 0
    services.payment_plan_create(
        actor=consultant, opportunity=deal, scheme="full", deposit=Decimal("50000")
    )
    services.opportunity_contract(actor=consultant, opportunity=deal)
    assert FactDirty.objects.filter(fact=FACT, key=deal.customer_id).exists()
    refreshed()
    assert row(deal.customer).contracted == deal.agreed_price
    assert not FactDirty.objects.filter(fact=FACT).exists()


def test_a_lost_contract_and_a_friends_new_deal_reach_the_referrer(
    building, consultant
):
    referrer = CustomerFactory(assigned_consultant=consultant, stage="owner")
    first = sell(building, consultant, contract=True)
    Referral.objects.create(
        referrer=referrer, friend=first.customer, recorded_by=consultant
    )
    refreshed()
    # A bulk update calls no save(): the trigger still sees it.
    Opportunity.objects.filter(pk=first.pk).update(stage="lost", lost_reason="price")
    refreshed()
    assert row(referrer).referred == 0
    assert row(first.customer).contracted == 0


def test_refresh_and_rebuild_give_the_same_rows(building, consultant, service_agent):
    deal = sell(building, consultant, contract=True)
    work_order(request_for(deal.customer, service_agent), service_agent, cost="800")
    sell(building, consultant, contract=False)
    refreshed()
    first = list(CustomerValue.objects.order_by("customer_id").values())
    value.rebuild_fact()
    assert list(CustomerValue.objects.order_by("customer_id").values()) == first
    assert len(first) == Customer.objects.filter(merged_into__isnull=True).count()


# Tiers ---------------------------------------------------------------------------------


def tiers() -> dict[str, ValueTier]:
    return {t.name: t for t in ValueTier.objects.all()}


@pytest.mark.parametrize(
    ("score", "tier"),
    [
        ("10000000", "钻石"),
        ("9999999.99", "黄金"),
        ("5000000", "黄金"),
        ("4999999.99", "白银"),
        ("2000000", "白银"),
        ("1999999.99", "普通"),
        ("0", "普通"),
        # Service cost above value: the lowest tier takes every score below it.
        ("-2300", "普通"),
    ],
)
def test_the_tier_is_the_highest_threshold_the_score_reaches(score, tier):
    assert value.tier_for(Decimal(score), ValueTier.objects.all()).name == tier


def test_the_default_tiers_are_the_four_chinese_ones():
    assert [(t.name, t.min_score) for t in ValueTier.objects.all()] == [
        ("钻石", Decimal("10000000.00")),
        ("黄金", Decimal("5000000.00")),
        ("白银", Decimal("2000000.00")),
        ("普通", Decimal("0.00")),
    ]


def test_the_fact_applies_the_same_rule_at_the_boundaries(consultant):
    people = {}
    for score in ("5000000", "4999999.99", "-100", "0"):
        people[score] = CustomerFactory(assigned_consultant=consultant)
    contribution = value.Contribution(
        key="tests.fixed",
        label="fixed",
        part="contracted",
        function=lambda ids: {c.pk: Decimal(s) for s, c in people.items()},
    )
    value.register_contribution(contribution)
    try:
        value.rebuild_fact()
    finally:
        value.unregister_contribution("tests.fixed")
    names = {s: row(c).tier.name for s, c in people.items()}
    assert names == {
        "5000000": "黄金",
        "4999999.99": "白银",
        "-100": "普通",
        "0": "普通",
    }


def test_a_customer_without_deals_has_zero_value_and_the_lowest_tier(consultant):
    customer = CustomerFactory(assigned_consultant=consultant)
    refreshed()
    fact = row(customer)
    assert (fact.contracted, fact.referred, fact.cost, fact.score) == (0, 0, 0, 0)
    assert fact.tier.name == "普通"


def test_changing_a_threshold_re_tiers_every_customer_at_once(building, consultant):
    deal = sell(building, consultant, contract=True)
    refreshed()
    price = deal.agreed_price
    assert row(deal.customer).tier == value.tier_for(price, ValueTier.objects.all())
    for tier in ValueTier.objects.exclude(name="普通"):
        tier.min_score = price + tier.min_score  # every tier above the price
        tier.save()
    assert value.value_tiers_apply() >= 1
    assert row(deal.customer).tier.name == "普通"
    # Applied twice, nothing more changes.
    assert value.value_tiers_apply() == 0
    ValueTier.objects.exclude(name="钻石").delete()
    value.value_tiers_apply()
    # Only 钻石 is left: the lowest tier takes every score below it.
    assert row(deal.customer).tier.name == "钻石"


# Merges --------------------------------------------------------------------------------


def test_a_merged_customers_value_moves_to_the_survivor(
    building, consultant, service_agent
):
    connect_merge_handlers()
    survivor_deal = sell(building, consultant, contract=True)
    absorbed_deal = sell(building, consultant, contract=True)
    friend_deal = sell(building, consultant, contract=True)
    survivor, absorbed = survivor_deal.customer, absorbed_deal.customer
    Referral.objects.create(
        referrer=absorbed, friend=friend_deal.customer, recorded_by=consultant
    )
    work_order(request_for(absorbed, service_agent), service_agent, cost="1000")
    refreshed()
    before = row(survivor).score + row(absorbed).score
    customer_merge(actor=consultant, survivor=survivor, absorbed=absorbed, choices={})
    refreshed()
    fact = row(survivor)
    assert fact.contracted == survivor_deal.agreed_price + absorbed_deal.agreed_price
    assert fact.referred == friend_deal.agreed_price
    assert fact.cost == Decimal("1000.00")
    assert fact.score == before
    # The absorbed customer has no row of its own any more.
    assert not CustomerValue.objects.filter(customer_id=absorbed.pk).exists()


def test_an_anonymised_customer_leaves_the_value_table(building, consultant):
    from customers.models import Customer

    deal = sell(building, consultant, contract=True)
    refreshed()
    Customer.objects.filter(pk=deal.customer_id).update(anonymised_at=timezone.now())
    refreshed()
    assert not CustomerValue.objects.filter(customer_id=deal.customer_id).exists()


def test_the_value_scope_is_the_customer_lists_for_every_persona(
    consultant,
    other_consultant,
    far_consultant,
    sales_manager,
    service_manager,
    marketer,
    executive,
):
    from customers.models import CustomerAccess

    customers = [
        CustomerFactory(assigned_consultant=consultant),
        CustomerFactory(assigned_consultant=other_consultant, consent_sms=True),
        CustomerFactory(assigned_consultant=far_consultant, stage="owner"),
        CustomerFactory(assigned_consultant=far_consultant),
        CustomerFactory(assigned_consultant=None),  # the public pool
    ]
    # Registered to the first team at another project: shared with a consultant.
    shared = CustomerFactory(assigned_consultant=far_consultant)
    CustomerAccess.objects.create(customer=shared, user=other_consultant)
    facts_refreshed(value.FACT)
    # The copied columns follow the customer: reassigned, consented, became an owner.
    Customer.objects.filter(pk=customers[3].pk).update(
        assigned_consultant=consultant, consent_email=True, stage="buyer"
    )
    facts_refreshed(value.FACT)
    for user in (sales_manager, service_manager, marketer, executive):
        counted = set(
            CustomerValue.objects.filter(value.value_scope(user)).values_list(
                "customer_id", flat=True
            )
        )
        listed = set(
            Customer.objects.visible_to(user)
            .identifiable()
            .values_list("pk", flat=True)
        )
        assert counted == listed, user.username
