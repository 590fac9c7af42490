"""The explorer's foundation (crm_site.insight): triggers mark fact keys dirty, the
refresh brings them in once, a rebuild gives the same rows, and a cell's drill-down
opens exactly the rows it counted."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.urls import reverse

from crm_site import insight
from crm_site.models import FactDirty, FactState
from customers.models import Customer
from sales.models import DealChange, DealFact, Opportunity
from tests.factories import make_building
from tests.insight_fixtures import facts_refreshed, sell

pytestmark = pytest.mark.django_db

DEALS = "sales.deals"


def approved(deal: Opportunity) -> DealChange:
    """The approved cancellation move_to() asks for to end a subscription."""
    return DealChange(opportunity=deal, status=DealChange.Status.APPROVED)


@pytest.fixture
def building(db):
    return make_building(floors=3, per_floor=4, skipped=())


def _dirty(key: int) -> int:
    return FactDirty.objects.filter(fact=DEALS, key=key).count()


def test_a_sale_marks_the_deal_dirty_and_the_refresh_brings_it_in(building, consultant):
    deal = sell(building, consultant, contract=True)
    assert _dirty(deal.pk) >= 1
    facts_refreshed(DEALS)
    assert _dirty(deal.pk) == 0
    fact = DealFact.objects.get(deal_id=deal.pk)
    assert fact.stage == "contracted" and fact.reached == "contracted"
    assert fact.contract_amount == deal.agreed_price
    assert fact.channel == "wechat" and fact.team_id == consultant.team_id
    assert fact.days_to_contract == 0
    assert FactState.objects.get(fact=DEALS).refreshed_at is not None


def test_a_bulk_update_of_the_customer_reaches_the_fact(building, consultant):
    deal = sell(building, consultant, contract=False)
    facts_refreshed(DEALS)
    # update() calls no save() and sends no signal: the trigger still sees it.
    Customer.objects.filter(pk=deal.customer_id).update(source="phone")
    facts_refreshed(DEALS)
    assert DealFact.objects.get(deal_id=deal.pk).channel == "phone"


def test_a_rolled_back_change_leaves_no_mark(building, consultant):
    deal = sell(building, consultant, contract=False)
    facts_refreshed(DEALS)
    with pytest.raises(RuntimeError), transaction.atomic():
        Opportunity.objects.filter(pk=deal.pk).update(lost_note="x")
        raise RuntimeError
    assert _dirty(deal.pk) == 0


def test_a_lost_deal_keeps_the_stage_it_reached(building, consultant):
    deal = sell(building, consultant, contract=False)
    # A subscription ends only through an approved cancellation (APPROVED_CHANGE_ONLY).
    deal.move_to("lost", actor=consultant, reason="price", change=approved(deal))
    facts_refreshed(DEALS)
    fact = DealFact.objects.get(deal_id=deal.pk)
    assert (fact.stage, fact.reached, fact.lost_reason) == (
        "lost",
        "subscribed",
        "price",
    )
    assert fact.lost_on is not None and fact.contract_amount is None


def test_refresh_twice_and_rebuild_give_the_same_rows(building, consultant):
    for contract in (True, False, True):
        sell(building, consultant, contract=contract)
    facts_refreshed(DEALS)
    first = list(DealFact.objects.order_by("deal_id").values())
    # The same keys marked again: recomputed, not doubled.
    FactDirty.objects.bulk_create(
        [FactDirty(fact=DEALS, key=row["deal_id"]) for row in first]
    )
    facts_refreshed(DEALS)
    assert list(DealFact.objects.order_by("deal_id").values()) == first
    insight.rebuild(only=[DEALS])
    assert list(DealFact.objects.order_by("deal_id").values()) == first


def test_a_deleted_deal_leaves_the_facts(building, consultant):
    deal = sell(building, consultant, contract=False)
    facts_refreshed(DEALS)
    with connection.cursor() as cursor:
        # No service deletes a deal; the fact must still follow a row that goes.
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        for table in ("sales_stagechange", "sales_unithold", "sales_paymentitem"):
            cursor.execute(f"DELETE FROM {table} WHERE opportunity_id = %s", [deal.pk])
    Opportunity.objects.filter(pk=deal.pk)._raw_delete(using="default")
    facts_refreshed(DEALS)
    assert not DealFact.objects.filter(deal_id=deal.pk).exists()


def test_a_cell_drills_into_exactly_its_rows(
    client, building, consultant, far_consultant, sales_manager
):
    mine = [sell(building, consultant, contract=c) for c in (True, True, False)]
    sell(building, far_consultant, contract=True)  # another team's: never counted
    facts_refreshed(DEALS)
    source = insight.source_named(DEALS)
    cell = {"stage": "contracted", "channel": "wechat"}
    counted = source.rows_for(sales_manager, cell)
    assert counted.count() == 2

    client.force_login(sales_manager)
    response = client.get(insight.drill_url(source, cell))
    assert response.status_code == 200
    shown = {deal.pk for deal in response.context["page"].items}
    assert shown == {d.pk for d in mine[:2]}
    assert shown == set(counted.values_list("deal_id", flat=True))
    assert response.context["drill"].description[0][0] == "阶段"


def test_a_forged_or_misdirected_drill_is_ignored(client, building, consultant):
    sell(building, consultant, contract=True)
    facts_refreshed(DEALS)
    client.force_login(consultant)
    url = reverse("sales:opportunity-list")
    response = client.get(url, {"drill": "forged"})
    assert response.context["drill"] is None
    token = insight.drill_token(insight.source_named(DEALS), {"stage": "lost"})
    # A token is for the list its source names, not another one.
    response = client.get(reverse("customers:customer-list"), {"drill": token})
    assert response.status_code == 200
    assert response.context.get("drill") is None


def test_the_pivot_totals_and_cells_agree_with_the_rows(
    building, consultant, other_consultant, sales_manager
):
    sell(building, consultant, contract=True)
    sell(building, consultant, contract=False, source="phone")
    sell(building, other_consultant, contract=True)
    facts_refreshed(DEALS)
    source = insight.source_named(DEALS)
    table = insight.pivot(
        sales_manager,
        source,
        source.measure("deals"),
        [source.dimension("consultant"), source.dimension("stage")],
    )
    assert table.total == 3
    assert table.cells[(consultant.pk, "contracted")] == 1
    assert table.row_totals[consultant.pk] == 2
    assert dict(table.rows)[consultant.pk] == consultant.display_name
    for (row, column), value in table.cells.items():
        cell = source.rows_for(sales_manager, table.cell_filters(row, column))
        assert cell.count() == value


def test_a_drill_over_consecutive_months_is_described_as_a_range(
    client, building, consultant, sales_manager
):
    sell(building, consultant, contract=True)
    facts_refreshed(DEALS)
    source = insight.source_named(DEALS)
    months = ["2026-01-01", "2026-02-01", "2026-03-01"]
    client.force_login(sales_manager)
    response = client.get(insight.drill_url(source, {"month": months}))
    assert response.context["drill"].description == [
        ("商机创建月份", "2026-01 – 2026-03")
    ]
    response = client.get(insight.drill_url(source, {"month": months[::2]}))
    assert response.context["drill"].description[0][1] == "2026-01、2026-03"
