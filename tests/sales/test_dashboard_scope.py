"""The sales dashboard shows what its reader sells, and counts deals and visits, not
the rows behind them."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from crm_site.roles import Role
from customers import services as customer_services
from sales import services
from sales.dashboard import sales_dashboard
from sales.forms import DashboardFilterForm
from sales.models import Opportunity
from tests.factories import CustomerFactory, UserFactory, make_building

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("sales:dashboard")


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def two_teams_buildings(team, other_team):
    ours = make_building(project_name="安居·一组盘")
    ours.project.teams.add(team)
    theirs = make_building(project_name="安居·二组盘")
    theirs.project.teams.add(other_team)
    return ours, theirs


def _month():
    today = timezone.localdate()
    return today.replace(day=1), today


def _shown(board) -> set[str]:
    return {row["url"] for row in board.sell_through}


def test_sales_dashboard_sell_through_shows_only_projects_the_managers_team_sells(
    client, two_teams_buildings, sales_manager
):
    ours, theirs = two_teams_buildings
    start, end = _month()
    shown = _shown(sales_dashboard(user=sales_manager, start=start, end=end))
    assert ours.get_absolute_url() in shown
    # The other team's building grid answers 404 to this manager: it is not listed.
    client.force_login(sales_manager)
    assert client.get(theirs.get_absolute_url()).status_code == 404
    assert theirs.get_absolute_url() not in shown


def test_sales_dashboard_sell_through_of_an_executive_shows_every_project(
    two_teams_buildings, executive
):
    ours, theirs = two_teams_buildings
    start, end = _month()
    shown = _shown(sales_dashboard(user=executive, start=start, end=end))
    assert {ours.get_absolute_url(), theirs.get_absolute_url()} <= shown


def test_sales_dashboard_cache_is_not_shared_between_two_teams_managers(
    two_teams_buildings, sales_manager, other_team
):
    ours, theirs = two_teams_buildings
    far_manager = UserFactory(
        username="far_manager", team=other_team, role=Role.SALES_MANAGER
    )
    start, end = _month()
    assert ours.get_absolute_url() in _shown(
        sales_dashboard(user=sales_manager, start=start, end=end)
    )
    # Computed after the first team's board was cached: its own scope, its own rows.
    far = _shown(sales_dashboard(user=far_manager, start=start, end=end))
    assert theirs.get_absolute_url() in far
    assert ours.get_absolute_url() not in far


def test_dashboard_filter_offers_only_the_projects_the_user_sells(
    two_teams_buildings, sales_manager, executive
):
    ours, theirs = two_teams_buildings
    offered = DashboardFilterForm(user=sales_manager).fields["project"].queryset
    assert set(offered) == {ours.project}
    everything = DashboardFilterForm(user=executive).fields["project"].queryset
    assert {ours.project, theirs.project} <= set(everything)
    # Without a user (the service dashboard): every project, as before.
    assert {ours.project, theirs.project} <= set(
        DashboardFilterForm().fields["project"].queryset
    )


def test_dashboard_page_refuses_another_teams_project_as_a_filter(
    client, two_teams_buildings, sales_manager
):
    ours, theirs = two_teams_buildings
    client.force_login(sales_manager)
    response = client.get(DASHBOARD, {"project": theirs.project.pk})
    assert response.status_code == 200
    assert "project" in response.context["form"].errors
    shown = _shown(response.context["board"])
    assert theirs.get_absolute_url() not in shown
    assert ours.get_absolute_url() in shown
    response = client.get(DASHBOARD, {"project": ours.project.pk})
    assert not response.context["form"].errors
    assert _shown(response.context["board"]) == {ours.get_absolute_url()}


def test_sales_dashboard_counts_a_visit_once_when_the_customer_has_two_deals_in_the_project(
    consultant, sales_manager
):
    building = make_building()
    project = building.project
    customer = CustomerFactory(assigned_consultant=consultant)
    customer_services.interaction_log(
        customer=customer, kind="visit", summary="到访", actor=consultant
    )
    first = services.opportunity_open(
        actor=consultant, customer=customer, project=project
    )
    first.move_to(Opportunity.Stage.LOST, actor=consultant, reason="price")
    second = services.opportunity_open(
        actor=consultant, customer=customer, project=project
    )
    assert second.pk != first.pk
    start, end = _month()

    def visits(**kwargs) -> int:
        board = sales_dashboard(user=sales_manager, start=start, end=end, **kwargs)
        return {row["step"]: row["value"] for row in board.funnel}["visits"]

    assert visits() == 1
    assert visits(project=project) == 1
    # A customer with no deal at another project: their visit is not that project's.
    assert visits(project=make_building(project_name="安居·别盘").project) == 0


def test_sales_dashboard_funnel_counts_a_deal_reserved_twice_once(
    consultant, sales_manager
):
    """Release a hold and reserve again (the buyer changed their mind on the floor):
    one deal reached the reservation step, and it subscribed, so 100 %."""
    building = make_building()
    customer = CustomerFactory(assigned_consultant=consultant)
    deal = services.opportunity_open(
        actor=consultant, customer=customer, project=building.project
    )
    first, second = building.units.filter(status="available")[:2]
    hold = services.unit_reserve(actor=consultant, opportunity=deal, unit=first)
    services.unit_release(actor=consultant, hold=hold)
    deal.refresh_from_db()
    services.unit_reserve(actor=consultant, opportunity=deal, unit=second)
    services.unit_subscribe(actor=consultant, opportunity=deal)
    start, end = _month()
    board = sales_dashboard(user=sales_manager, start=start, end=end)
    funnel = {row["step"]: row for row in board.funnel}
    assert funnel["reserved"]["value"] == 1
    assert funnel["subscribed"]["rate"] == 100.0
    # The breakdowns count deals too.
    for rows in (board.by_project, board.by_consultant, board.by_source):
        assert [(row["reserved"], row["subscribed"]) for row in rows] == [(1, 1)]


def test_sales_dashboard_counts_the_visits_the_overview_counts(
    client, consultant, sales_manager, two_teams_buildings
):
    """The funnel's first step is the overview's visits figure and the rows of the
    list behind it (sales.overview.visits_in): visits of customers with a deal the
    reader may see. A walk-in left in the public pool, or a customer only another
    team sells to, is not this team's visit on either page."""
    ours, _theirs = two_teams_buildings
    ours_buyer = CustomerFactory(assigned_consultant=consultant)
    pool_walk_in = CustomerFactory(assigned_consultant=None)
    for customer in (ours_buyer, pool_walk_in):
        customer_services.interaction_log(
            customer=customer, kind="visit", summary="到访", actor=consultant
        )
    services.opportunity_open(
        actor=consultant, customer=ours_buyer, project=ours.project
    )
    start, end = _month()
    board = sales_dashboard(user=sales_manager, start=start, end=end)
    funnel = {row["step"]: row["value"] for row in board.funnel}
    client.force_login(sales_manager)
    listed = client.get(
        reverse("sales:visit-list"),
        {"start": start.isoformat(), "end": end.isoformat()},
    ).context["page"]
    assert funnel["visits"] == len(listed.items) == 1
    # The dashboard's figure opens that list.
    response = client.get(DASHBOARD, {"start": start, "end": end})
    assert reverse("sales:visit-list") in response.content.decode()
