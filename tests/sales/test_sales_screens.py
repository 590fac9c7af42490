"""The sales office's screens: the grid's legend, the deal board's amounts, the
approvals' history and price effect, the unit picker of a change, the pool's limits."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from sales import selectors, services
from sales.models import DealChange, DiscountRequest, Opportunity, Unit
from sales.pricing import quote
from sales.selectors import STATUS_ICONS
from sales.services import ownership
from tests.factories import CustomerFactory, make_building
from tests.helpers import assert_queries_do_not_grow


@pytest.fixture
def building(db):
    return make_building(floors=6, per_floor=4)


def units(building) -> list[Unit]:
    return list(building.units.order_by("floor", "position"))


def held_deal(consultant, building, unit, customer=None) -> Opportunity:
    deal = services.opportunity_open(
        actor=consultant,
        customer=customer or CustomerFactory(assigned_consultant=consultant),
        project=building.project,
    )
    services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    deal.refresh_from_db()
    return deal


def subscribed_deal(consultant, building, unit, customer=None) -> Opportunity:
    deal = held_deal(consultant, building, unit, customer)
    services.unit_subscribe(actor=consultant, opportunity=deal)
    deal.refresh_from_db()
    return deal


# The sales-control grid ----------------------------------------------------------


def test_grid_legend_gives_every_status_a_symbol_and_a_name(
    client, consultant, building
):
    first, second, *_ = units(building)
    held_deal(consultant, building, first)
    Unit.objects.filter(pk=second.pk).update(status=Unit.Status.NOT_FOR_SALE)
    client.force_login(consultant)
    body = client.get(reverse("sales:building-grid", args=[building.pk])).content
    body = body.decode()
    legend = body[body.index('data-testid="grid-legend"') :]
    legend = legend[: legend.index("</div>")]
    for status, label in Unit.Status.choices:
        item = legend[legend.index(f'data-status="{status}"') :]
        item = item[: item.index("</strong>")]
        assert STATUS_ICONS[status] in item and str(label) in item
    # Each cell carries its status's symbol and, for screen readers, its name.
    assert body.count(STATUS_ICONS["reserved"]) == 2  # the legend and unit 101
    assert body.count(STATUS_ICONS["not_for_sale"]) == 2
    assert body.count(STATUS_ICONS["available"]) == 1 + len(units(building)) - 2
    # (the header's bell has one more, for its name)
    grid = body[body.index('data-testid="grid-page"') :]
    assert grid.count('<span class="visually-hidden">') == len(units(building))


def test_big_screen_mode_keeps_its_filter_and_refreshes_with_it(
    client, consultant, building
):
    client.force_login(consultant)
    url = reverse("sales:building-grid", args=[building.pk])
    normal = client.get(url).content.decode()
    assert 'class="grid-page"' in normal and "screen=big" in normal
    big = client.get(url, {"screen": "big", "layout": "3室2厅2卫"}).content.decode()
    assert 'class="grid-page grid-big"' in big
    assert '<input type="hidden" name="screen" value="big">' in big
    # The ten-second refresh asks for the same view.
    assert "cells/?screen=big&amp;layout=" in big


# The deal board ------------------------------------------------------------------


def test_board_shows_each_deals_amount_and_the_column_totals(
    client, consultant, building
):
    first, second, third, *_ = units(building)
    reserved = held_deal(consultant, building, first)
    services.discount_request(
        actor=consultant,
        opportunity=reserved,
        percent=Decimal("1.5"),
        reason="老带新",
    )
    reserved.refresh_from_db()
    other_reserved = held_deal(consultant, building, second)
    subscribed = subscribed_deal(consultant, building, third)
    services.opportunity_open(
        actor=consultant, customer=CustomerFactory(), project=building.project
    )
    client.force_login(consultant)
    response = client.get(reverse("sales:opportunity-board"))
    columns = {c.stage: c for c in response.context["columns"]}

    first_price = quote(unit=first, discount_percent=Decimal("1.5")).price
    amounts = {deal.pk: deal.amount for deal in columns["reserved"].deals}
    assert amounts == {reserved.pk: first_price, other_reserved.pk: second.list_price}
    assert columns["reserved"].count == 2
    assert columns["reserved"].amount == first_price + second.list_price
    assert columns["subscribed"].amount == subscribed.agreed_price
    assert columns["new"].count == 1 and columns["new"].amount == 0
    assert response.context["total_amount"] == (
        first_price + second.list_price + subscribed.agreed_price
    )
    body = response.content.decode()
    assert f"¥{first_price:,.0f}" in body
    assert f"¥{first_price + second.list_price:,.0f}" in body
    assert 'data-testid="column-total"' in body


def test_board_counts_and_totals_every_deal_even_beyond_those_drawn(
    client, consultant, building, monkeypatch
):
    for unit in units(building)[:3]:
        held_deal(consultant, building, unit)
    monkeypatch.setattr(selectors, "BOARD_DEALS_SHOWN", 1)
    client.force_login(consultant)
    response = client.get(reverse("sales:opportunity-board"))
    column = {c.stage: c for c in response.context["columns"]}["reserved"]
    assert (len(column.deals), column.count, column.hidden) == (1, 3, 2)
    assert column.amount == sum(u.list_price for u in units(building)[:3])
    assert "?stage=reserved" in response.content.decode()


# Approvals -----------------------------------------------------------------------


def test_approval_shows_the_price_effect_and_the_deals_history(
    client, consultant, sales_manager, building
):
    unit = units(building)[0]
    deal = held_deal(consultant, building, unit)
    services.discount_request(
        actor=consultant, opportunity=deal, percent=Decimal("1"), reason="首付高"
    )
    services.discount_request(
        actor=consultant, opportunity=deal, percent=Decimal("5"), reason="团购"
    )
    client.force_login(sales_manager)
    response = client.get(reverse("sales:approval-list"))
    (item,) = response.context["page"].items
    effect = item.effect
    before = quote(unit=unit, discount_percent=Decimal("1")).price
    after = quote(unit=unit, discount_percent=Decimal("5")).price
    assert (effect.list_price, effect.before, effect.after) == (
        unit.list_price,
        before,
        after,
    )
    assert effect.difference == after - before < 0
    assert effect.discount_amount == unit.list_price - after
    kinds = [entry.kind for entry in item.history]
    assert "stage" in kinds and "discount" in kinds
    body = response.content.decode()
    assert f"¥{unit.list_price:,.0f}" in body and f"¥{after:,.0f}" in body
    assert f"−¥{before - after:,.0f}" in body
    assert 'data-testid="deal-history"' in body
    # The approve and reject buttons are still one form posting to the same place.
    assert reverse("sales:approval-decide", args=[item.pk]) in body


def test_change_of_unit_shows_the_new_units_price_and_a_cancellation_the_loss(
    client, consultant, sales_manager, building
):
    first, second, _third, fourth, *_ = units(building)
    Unit.objects.filter(pk=fourth.pk).update(list_price=first.list_price + 200000)
    fourth.refresh_from_db()
    moving = subscribed_deal(consultant, building, first)
    services.deal_change_request(
        actor=consultant,
        opportunity=moving,
        kind=DealChange.Kind.CHANGE_UNIT,
        reason="换高层",
        new_unit=fourth,
    )
    leaving = subscribed_deal(consultant, building, second)
    services.deal_change_request(
        actor=consultant,
        opportunity=leaving,
        kind=DealChange.Kind.CANCEL,
        reason="资金",
    )
    client.force_login(sales_manager)
    response = client.get(reverse("sales:approval-list"))
    effects = {c.opportunity_id: c.effect for c in response.context["changes"]}
    assert effects[moving.pk].old_list_price == first.list_price
    assert effects[moving.pk].after == fourth.list_price
    assert effects[moving.pk].difference == Decimal("200000")
    assert effects[leaving.pk].after is None
    assert effects[leaving.pk].difference == -leaving.agreed_price
    body = response.content.decode()
    assert "+¥200,000" in body
    assert f"−¥{leaving.agreed_price:,.0f}" in body


def test_approval_page_query_count_does_not_grow_with_requests(
    client, consultant, sales_manager, building
):
    pool = iter(units(building))

    def add():
        deal = held_deal(consultant, building, next(pool))
        services.discount_request(
            actor=consultant, opportunity=deal, percent=Decimal("1"), reason="a"
        )
        services.discount_request(
            actor=consultant, opportunity=deal, percent=Decimal("6"), reason="b"
        )
        sub = subscribed_deal(consultant, building, next(pool))
        services.deal_change_request(
            actor=consultant,
            opportunity=sub,
            kind=DealChange.Kind.CHANGE_UNIT,
            reason="c",
            new_unit=next(pool),
        )

    add()
    client.force_login(sales_manager)

    def grow():
        for _ in range(3):
            add()

    assert_queries_do_not_grow(
        lambda: client.get(reverse("sales:approval-list")), grow, at_most=16
    )
    assert DiscountRequest.objects.filter(status="pending").count() == 4


# The unit picker of a change of unit ---------------------------------------------


@pytest.fixture
def subscribed(consultant, building):
    return subscribed_deal(consultant, building, units(building)[0])


def options(client, deal, **params) -> list[Unit]:
    """The units the picker offers, in its order, read from the HTML fragment."""
    response = client.get(reverse("sales:deal-unit-options", args=[deal.pk]), params)
    assert response.status_code == 200
    ids = [
        int(pk)
        for pk in re.findall(
            r'name="new_unit" value="(\d+)"', response.content.decode()
        )
    ]
    found = Unit.objects.in_bulk(ids)
    return [found[pk] for pk in ids]


def test_unit_picker_lists_available_units_by_building_floor_and_number(
    client, consultant, building, subscribed
):
    other = make_building(floors=3, per_floor=2)  # same project, another building
    elsewhere = make_building(project_name="别的项目", floors=2, per_floor=2)
    taken = building.units.get(number="201")
    held_deal(consultant, building, taken)
    client.force_login(consultant)

    everything = options(client, subscribed)
    assert subscribed.unit not in everything and taken not in everything
    assert {u.building_id for u in everything} == {building.pk, other.pk}
    assert not any(u.building_id == elsewhere.pk for u in everything)

    by_building = options(client, subscribed, building=other.pk)
    assert by_building and all(u.building_id == other.pk for u in by_building)
    by_floor = options(client, subscribed, building=building.pk, floor="2")
    assert {u.number for u in by_floor} == {"202", "203", "204"}
    by_number = options(client, subscribed, q="50")
    assert [u.number for u in by_number] == ["501", "502", "503", "504"]
    assert options(client, subscribed, building=elsewhere.pk) == []
    assert options(client, subscribed, floor="x", q="   ") == everything
    # The chosen unit stays chosen while the consultant narrows the list.
    chosen = by_floor[0]
    body = client.get(
        reverse("sales:deal-unit-options", args=[subscribed.pk]),
        {"floor": "2", "new_unit": chosen.pk},
    ).content.decode()
    assert f'value="{chosen.pk}" checked' in body


def test_unit_picker_is_capped_and_the_deal_page_has_no_long_select(
    client, consultant, building, subscribed, monkeypatch
):
    monkeypatch.setattr(selectors, "UNIT_CHOICES_SHOWN", 5)
    client.force_login(consultant)
    response = client.get(subscribed.get_absolute_url())
    body = response.content.decode()
    assert 'data-testid="unit-picker"' in body
    assert '<select name="new_unit"' not in body
    assert body.count('name="new_unit"') == 5
    assert response.context["unit_picker"]["choices"].more


def test_unit_picker_is_scoped_to_visible_deals(
    client, other_consultant, subscribed, outsider
):
    client.force_login(other_consultant)
    url = reverse("sales:deal-unit-options", args=[subscribed.pk])
    assert client.get(url).status_code == 404
    client.force_login(outsider)
    assert client.get(url).status_code == 403


def test_change_form_refuses_a_unit_that_is_not_available_next_to_the_field(
    client, consultant, building, subscribed
):
    taken = building.units.get(number="201")
    held_deal(consultant, building, taken)
    elsewhere = make_building(project_name="别的项目", floors=2, per_floor=2)
    client.force_login(consultant)
    url = reverse("sales:deal-change-create", args=[subscribed.pk])

    response = client.post(
        url,
        {"kind": "change_unit", "reason": "换房", "new_unit": taken.pk, "floor": "3"},
    )
    assert response.status_code == 400
    error = response.context["change_form"].errors["new_unit"][0]
    assert "201" in error
    body = response.content.decode()
    assert 'data-testid="new-unit-error"' in body
    # The picker comes back as the consultant left it: floor 3's units.
    assert 'name="floor" type="number"' in body and 'value="3"' in body
    assert response.context["unit_picker"]["choices"].units[0].floor == 3

    response = client.post(
        url,
        {
            "kind": "change_unit",
            "reason": "换房",
            "new_unit": elsewhere.units.first().pk,
        },
    )
    assert response.status_code == 400
    assert "new_unit" in response.context["change_form"].errors
    assert not DealChange.objects.exists()

    free = building.units.get(number="301")
    response = client.post(
        url, {"kind": "change_unit", "reason": "换房", "new_unit": free.pk}
    )
    assert response.status_code == 302
    assert DealChange.objects.get().new_unit == free


# The public pool -----------------------------------------------------------------


def test_pool_claim_refuses_buyers_and_owners_and_the_pool_does_not_list_them(
    client, consultant, other_consultant, building, pool_customer
):
    buyer = CustomerFactory(name="周九", assigned_consultant=None)
    subscribed_deal(other_consultant, building, units(building)[0], customer=buyer)
    buyer.refresh_from_db()
    assert buyer.assigned_consultant is None  # in the pool, yet a buyer
    owner = CustomerFactory(name="吴十", stage="owner", assigned_consultant=None)
    for customer in (buyer, owner):
        with pytest.raises(ownership.ClaimRefused, match=customer.name):
            ownership.pool_claim(
                actor=consultant, customer=customer, project=building.project
            )
    client.force_login(consultant)
    listed = list(client.get(reverse("sales:pool")).context["page"].items)
    assert listed == [pool_customer]

    response = client.post(
        reverse("sales:pool-claim", args=[owner.pk]),
        {"project": building.project.pk},
        follow=True,
    )
    # The refusal names the customer (who is not listed in the pool).
    assert owner.name in response.content.decode()
    owner.refresh_from_db()
    assert owner.assigned_consultant is None

    ownership.pool_claim(
        actor=consultant, customer=pool_customer, project=building.project
    )
    pool_customer.refresh_from_db()
    assert pool_customer.assigned_consultant == consultant


def test_pool_list_query_count_does_not_grow_with_excluded_customers(
    client, consultant, building
):
    client.force_login(consultant)
    CustomerFactory(assigned_consultant=None)

    def grow():
        for _ in range(3):
            CustomerFactory(assigned_consultant=None)
            CustomerFactory(stage="owner", assigned_consultant=None)

    assert_queries_do_not_grow(
        lambda: client.get(reverse("sales:pool")), grow, at_most=12
    )
