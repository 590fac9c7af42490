"""The sales dashboard's funnel counts each deal at every step up to the furthest it
reached in the period ("reached or beyond"): a deal that subscribed without a
reservation (an opening-day selection signs the subscription at once), or whose
reservation fell before the period, still passed the reservation step, so no step
converts more than 100 % of the one above it."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from customers import services as customer_services
from sales import services
from sales.dashboard import sales_dashboard
from sales.models import Opportunity, StageChange
from tests.factories import CustomerFactory, make_building
from tests.insight_fixtures import sell

pytestmark = pytest.mark.django_db

Stage = Opportunity.Stage


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def building(team):
    building = make_building()
    building.project.teams.add(team)
    return building


def _window():
    today = timezone.localdate()
    return today.replace(day=1), today


def _visited_deal(building, consultant) -> Opportunity:
    customer = CustomerFactory(assigned_consultant=consultant)
    customer_services.interaction_log(
        customer=customer, kind="visit", summary="到访", actor=consultant
    )
    deal = services.opportunity_open(
        actor=consultant, customer=customer, project=building.project
    )
    deal.move_to(Stage.VISITED, actor=consultant)
    return deal


def _funnel(user) -> dict[str, dict]:
    start, end = _window()
    board = sales_dashboard(user=user, start=start, end=end)
    return {row["step"]: row for row in board.funnel}


def test_funnel_counts_a_deal_subscribed_without_a_reservation_at_the_reservation_step(
    building, consultant, sales_manager
):
    sell(building, consultant, contract=False)
    # As an opening-day selection does: visited, then subscribed at once.
    _visited_deal(building, consultant).move_to(Stage.SUBSCRIBED, actor=consultant)
    funnel = _funnel(sales_manager)
    assert funnel["reserved"]["value"] == 2
    assert funnel["subscribed"]["value"] == 2
    assert funnel["subscribed"]["rate"] == 100.0


def test_funnel_counts_a_deal_reserved_before_the_period_that_went_on_in_it(
    building, consultant, sales_manager
):
    deal = sell(building, consultant, contract=True)
    start, _end = _window()
    before = timezone.make_aware(datetime.combine(start - timedelta(days=3), time(12)))
    StageChange.objects.filter(opportunity=deal, to_stage=Stage.RESERVED).update(
        changed_at=before
    )
    funnel = _funnel(sales_manager)
    assert [funnel[step]["value"] for step in ("reserved", "subscribed")] == [1, 1]
    assert funnel["contracted"]["value"] == 1
    assert funnel["contracted"]["rate"] == 100.0


def test_funnel_counts_a_lost_deal_up_to_the_step_it_reached(
    building, consultant, sales_manager
):
    sell(building, consultant, contract=True)
    lost = _visited_deal(building, consultant)
    unit = building.units.filter(status="available").first()
    services.unit_reserve(actor=consultant, opportunity=lost, unit=unit)
    lost.refresh_from_db()
    lost.move_to(Stage.LOST, actor=consultant, reason="price")
    funnel = _funnel(sales_manager)
    assert [funnel[s]["value"] for s in ("reserved", "subscribed", "contracted")] == [
        2,
        1,
        1,
    ]
    assert funnel["subscribed"]["rate"] == 50.0


def test_funnel_steps_never_convert_more_than_all_of_the_step_above(
    building, consultant, sales_manager
):
    sell(building, consultant, contract=True)
    sell(building, consultant, contract=False)
    for _ in range(3):
        _visited_deal(building, consultant).move_to(Stage.SUBSCRIBED, actor=consultant)
    funnel = _funnel(sales_manager)
    deal_steps = [funnel[s] for s in ("reserved", "subscribed", "contracted")]
    assert [row["value"] for row in deal_steps] == [5, 5, 1]
    assert all(row["rate"] <= 100 for row in deal_steps[1:])


def test_funnel_breakdowns_count_deals_as_the_funnel_does(
    building, consultant, sales_manager
):
    sell(building, consultant, contract=False)
    _visited_deal(building, consultant).move_to(Stage.SUBSCRIBED, actor=consultant)
    start, end = _window()
    board = sales_dashboard(user=sales_manager, start=start, end=end)
    for rows in (board.by_project, board.by_consultant, board.by_source):
        assert sum(row["reserved"] for row in rows) == 2
        assert sum(row["subscribed"] for row in rows) == 2


def test_dashboard_says_what_a_funnel_step_counts(client, sales_manager):
    client.force_login(sales_manager)
    page = client.get(reverse("sales:dashboard"), headers={"accept-language": "en"})
    assert "reached it or a later step" in page.content.decode()
