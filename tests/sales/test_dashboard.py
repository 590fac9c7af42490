from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from sales.dashboard import sales_dashboard
from tests.factories import make_building
from tests.helpers import assert_queries_do_not_grow
from tests.insight_fixtures import sell

DASHBOARD = reverse("sales:dashboard")


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def building(db):
    return make_building()


def test_funnel_conversions_breakdowns_and_money(building, consultant, sales_manager):
    sell(building, consultant, contract=True, pay=True)
    sell(building, consultant, contract=False)
    today = timezone.localdate()
    board = sales_dashboard(user=sales_manager, start=today.replace(day=1), end=today)
    funnel = {row["step"]: row for row in board.funnel}
    assert funnel["visits"]["value"] == 2
    assert funnel["reserved"]["value"] == 2 and funnel["reserved"]["rate"] == 100.0
    assert funnel["subscribed"]["value"] == 2
    assert funnel["contracted"]["value"] == 1 and funnel["contracted"]["rate"] == 50.0
    assert board.by_consultant[0]["contracted"] == 1
    assert board.by_source[0]["label"] == "微信"
    this_month = board.months[-1]
    assert this_month["contracted"] == Decimal("3000000")
    assert this_month["collected"] == Decimal("3000000")
    assert board.sell_through[0]["sold"] == 2 and board.sell_through[0]["total"] == 10
    subscribed_row = next(row for row in board.forecast if row["weight"] == 80)
    assert subscribed_row["count"] == 1
    assert subscribed_row["weighted"] == Decimal("2400000")
    assert board.forecast_total == Decimal("2400000")


def test_dashboard_is_scoped_to_the_managers_team(
    building, consultant, far_consultant, sales_manager
):
    sell(building, far_consultant, contract=False)
    today = timezone.localdate()
    board = sales_dashboard(user=sales_manager, start=today.replace(day=1), end=today)
    assert {row["step"]: row["value"] for row in board.funnel}["subscribed"] == 0


def test_dashboard_page_permissions_and_bad_dates(
    client, consultant, sales_manager, executive, building
):
    client.force_login(consultant)
    assert client.get(DASHBOARD).status_code == 403
    client.force_login(executive)
    assert client.get(DASHBOARD).status_code == 200
    client.force_login(sales_manager)
    response = client.get(DASHBOARD, {"start": "2026-12-31", "end": "2026-01-01"})
    assert response.status_code == 200 and "start" in response.context["form"].errors
    assert client.get(DASHBOARD, {"start": "garbage"}).status_code == 200


def test_dashboard_query_count_does_not_grow_with_deals(
    client, sales_manager, consultant, building
):
    client.force_login(sales_manager)

    def fresh_get():
        cache.clear()
        client.get(DASHBOARD)

    assert_queries_do_not_grow(
        fresh_get,
        lambda: [sell(building, consultant, contract=True) for _ in range(3)],
        at_most=20,
    )


def test_dashboard_is_served_from_cache_within_minutes(client, sales_manager, building):
    client.force_login(sales_manager)
    client.get(DASHBOARD)
    from tests.helpers import count_queries

    assert count_queries(lambda: client.get(DASHBOARD)) <= 8


def test_warming_precomputes_every_scope_once(
    building, consultant, sales_manager, executive, administrator
):
    from sales.dashboard import default_window, warm
    from tests.helpers import count_queries

    sell(building, consultant, contract=False)
    assert warm() == 2  # the team's managers and the executives/administrators
    start, end = default_window()
    assert (
        count_queries(lambda: sales_dashboard(user=sales_manager, start=start, end=end))
        <= 3
    )
