"""The win/loss, time-in-stage and cohort pages (sales.views_insight): their figures,
that every figure's drill opens exactly the deals it counted, who may see them, and
query counts that do not grow with the rows."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from datetime import date, datetime, timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from customers.models import Interaction
from customers.services import interaction_log
from sales import services
from sales.insight_figures import Figure, add_months, cohorts, velocity, win_loss
from sales.models import DealChange, DealFact, Opportunity, StageChange
from tests.factories import CustomerFactory, make_building
from tests.insight_fixtures import facts_refreshed, sell

pytestmark = pytest.mark.django_db

WIN_LOSS = reverse("sales:insight-win-loss")
VELOCITY = reverse("sales:insight-velocity")
COHORTS = reverse("sales:insight-cohorts")
THIS_MONTH = timezone.localdate().replace(day=1)


def approved(deal: Opportunity) -> DealChange:
    """The approved cancellation move_to() asks for to end a subscription."""
    return DealChange(opportunity=deal, status=DealChange.Status.APPROVED)


@pytest.fixture(autouse=True)
def _fresh_cache():
    # The pages are cached per scope and filters for two minutes.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def building(db):
    return make_building(floors=4, per_floor=5, skipped=())


def visited_deal(building, consultant) -> Opportunity:
    """A customer who came to the sales office and whose deal moved to visited."""
    customer = CustomerFactory(assigned_consultant=consultant)
    interaction_log(customer=customer, kind="visit", summary="到访", actor=consultant)
    deal = services.opportunity_open(
        actor=consultant, customer=customer, project=building.project
    )
    deal.move_to("visited", actor=consultant)
    return deal


def lose(deal: Opportunity, actor, reason: str) -> Opportunity:
    # A subscription ends only through an approved cancellation (APPROVED_CHANGE_ONLY).
    deal.move_to("lost", actor=actor, reason=reason, change=approved(deal))
    return deal


@pytest.fixture
def deals(building, consultant, other_consultant, far_consultant):
    """Won, lost and open deals of the manager's team, and one of another team."""
    out = {
        "won": [
            sell(building, consultant, contract=True),
            sell(building, other_consultant, contract=True, source="phone"),
        ],
        "lost_price": [
            lose(sell(building, consultant, contract=False), consultant, "price"),
            lose(
                sell(building, other_consultant, contract=False, source="phone"),
                other_consultant,
                "price",
            ),
        ],
        "lost_competitor": [
            lose(sell(building, consultant, contract=False), consultant, "competitor")
        ],
        "open": [sell(building, consultant, contract=False)],
        "far": [
            lose(
                sell(building, far_consultant, contract=False), far_consultant, "price"
            )
        ],
    }
    facts_refreshed()
    return out


def ids(*deals) -> set[int]:
    return {d.pk for d in deals}


def drilled(client, url: str) -> set[int]:
    response = client.get(url)
    assert response.status_code == 200
    assert response.context["drill"] is not None, url
    return {deal.pk for deal in response.context["page"].items}


def figures(obj) -> list[Figure]:
    """Every Figure on a report, however deeply it sits."""
    if isinstance(obj, Figure):
        return [obj]
    if is_dataclass(obj):
        return [f for x in fields(obj) for f in figures(getattr(obj, x.name))]
    if isinstance(obj, list | tuple):
        return [f for x in obj for f in figures(x)]
    if isinstance(obj, dict):
        return [f for x in obj.values() for f in figures(x)]
    return []


def test_win_loss_counts_the_teams_won_and_lost_deals_of_the_period(
    client, sales_manager, deals, consultant
):
    client.force_login(sales_manager)
    response = client.get(WIN_LOSS)
    assert response.status_code == 200
    report = response.context["report"]
    assert (report.won.value, report.lost.value, report.closed.value) == (2, 3, 5)
    assert report.win_rate == 40.0
    reasons = {r.key: r.figures["lost"].value for r in report.lost_by_reason}
    assert reasons == {"price": 2, "competitor": 1}
    assert {r.key: r.figures["lost"].value for r in report.lost_by_reached} == {
        "subscribed": 3
    }
    mine = next(r for r in report.by_consultant if r.key == consultant.pk)
    assert (mine.figures["won"].value, mine.figures["lost"].value, mine.rate) == (
        1,
        2,
        33.3,
    )
    channels = {r.key: r.rate for r in report.by_channel}
    assert channels == {"wechat": 33.3, "phone": 50.0}
    this = next(r for r in report.by_month if r.key == THIS_MONTH)
    assert (this.figures["won"].value, this.figures["lost"].value) == (2, 3)
    # The far team's deal is not the manager's to count.
    assert deals["far"][0].pk not in drilled(client, report.lost.url)


def test_every_win_loss_figure_opens_exactly_its_deals(client, sales_manager, deals):
    client.force_login(sales_manager)
    report = client.get(WIN_LOSS).context["report"]
    assert drilled(client, report.won.url) == ids(*deals["won"])
    assert drilled(client, report.lost.url) == ids(
        *deals["lost_price"], *deals["lost_competitor"]
    )
    price = next(r for r in report.lost_by_reason if r.key == "price")
    assert drilled(client, price.figures["lost"].url) == ids(*deals["lost_price"])
    checked = 0
    for figure in figures(report):
        if isinstance(figure.value, int):
            assert len(drilled(client, figure.url)) == figure.value, figure
            checked += 1
    assert checked > 20


def test_win_loss_filters_by_period_and_project(client, sales_manager, deals, building):
    client.force_login(sales_manager)
    last_year = add_months(THIS_MONTH, -12)
    response = client.get(
        WIN_LOSS,
        {"start": last_year.strftime("%Y-%m"), "end": last_year.strftime("%Y-%m")},
    )
    assert response.context["report"].closed.value == 0
    response = client.get(WIN_LOSS, {"project": building.project_id})
    assert response.context["report"].closed.value == 5
    other = make_building(project_name="安居·云栖", floors=1, per_floor=1, skipped=())
    response = client.get(WIN_LOSS, {"project": other.project_id})
    assert response.context["report"].closed.value == 0


def test_bad_filters_show_their_error_and_fall_back_to_the_default_period(
    client, sales_manager, deals
):
    client.force_login(sales_manager)
    response = client.get(WIN_LOSS, {"start": "2026-13", "end": "nonsense"})
    assert response.status_code == 200
    form = response.context["form"]
    assert "start" in form.errors and "end" in form.errors
    assert response.context["report"].closed.value == 5
    response = client.get(WIN_LOSS, {"start": "2020-01", "end": "2026-01"})
    assert "start" in response.context["form"].errors  # more than 36 months
    response = client.get(COHORTS, {"start": "2026-05", "end": "2026-02"})
    assert "start" in response.context["form"].errors
    assert response.context["form"]["start"].errors
    assert "9999" not in response.content.decode()
    response = client.get(WIN_LOSS, {"project": "x"})
    assert "project" in response.context["form"].errors


def _history(deal: Opportunity, start: datetime, gaps: list[float]) -> None:
    """Set the deal's creation and each of its moves ``gaps`` days after the last."""
    Opportunity.objects.filter(pk=deal.pk).update(created_at=start)
    at = start
    for change, days in zip(
        StageChange.objects.filter(opportunity=deal).order_by("id"), gaps, strict=True
    ):
        at += timedelta(days=days)
        StageChange.objects.filter(pk=change.pk).update(changed_at=at)


def test_velocity_gives_count_average_median_and_90th_percentile_per_stage(
    client, sales_manager, building, consultant
):
    start = timezone.make_aware(datetime.combine(THIS_MONTH, datetime.min.time()))
    # Reserved for 1, 2, 3, 4 and 10 days (new → reserved → subscribed).
    for days in (1, 2, 3, 4, 10):
        _history(sell(building, consultant, contract=False), start, [0, days])
    facts_refreshed()
    client.force_login(sales_manager)
    response = client.get(VELOCITY)
    assert response.status_code == 200
    report = response.context["report"]
    reserved = next(s for s in report.stages if s.stage == "reserved")
    assert reserved.count.value == 5
    assert (reserved.average, reserved.median) == (4.0, 3.0)
    # percentile_cont: 4 + 0.6 × (10 − 4).
    assert reserved.p90 == 7.6
    codes = [code for code, _label in report.buckets]
    spread = dict(zip(codes, reserved.buckets, strict=True))
    assert [spread[c].value for c in ("d00", "d01", "d03", "d07")] == [0, 2, 2, 1]
    subscribed = next(s for s in report.stages if s.stage == "subscribed")
    assert (subscribed.count.value, subscribed.still.value) == (0, 5)
    month = report.months.index(THIS_MONTH)
    assert reserved.trend[month].value == 3.0
    assert drilled(client, reserved.count.url) == set(
        DealFact.objects.values_list("deal_id", flat=True)
    )
    assert len(drilled(client, spread["d01"].url)) == 2
    assert len(drilled(client, subscribed.still.url)) == 5
    html = response.content.decode()
    assert 'id="stages-chart"' in html and 'data-testid="stage-stats"' in html


def test_cohort_cells_count_the_first_visits_converted_by_each_month(
    client, sales_manager, building, consultant
):
    two_ago = add_months(THIS_MONTH, -2)
    start = timezone.make_aware(datetime.combine(two_ago, datetime.min.time()))
    # First visit two months ago: one subscribed in month 0, one in month 1, one
    # never; one deal visited this month and subscribed at once.
    early = [sell(building, consultant, contract=False) for _ in range(2)]
    early.append(visited_deal(building, consultant))
    _history(early[0], start, [1, 1])
    _history(early[1], start, [1, 40])
    lose(early[2], consultant, "price")
    _history(early[2], start, [1, 5])
    Interaction.objects.filter(kind="visit").update(occurred_at=start)
    fresh = sell(building, consultant, contract=False)
    facts_refreshed()
    client.force_login(sales_manager)
    response = client.get(COHORTS, {"start": two_ago.strftime("%Y-%m")})
    assert response.status_code == 200
    report = response.context["report"]
    assert report.offsets == [0, 1, 2]
    first, _middle, last = report.rows
    assert first.size.value == 3 and last.size.value == 1
    assert [(c.converted.value, c.share) for c in first.cells] == [
        (1, 33.3),
        (2, 66.7),
        (2, 66.7),
    ]
    # Months still to come are empty: this month's cohort has month 0 only.
    assert last.cells[1:] == [None, None]
    assert drilled(client, first.size.url) == ids(*early)
    assert drilled(client, first.cells[0].converted.url) == ids(early[0])
    assert drilled(client, first.cells[1].converted.url) == ids(*early[:2])
    assert drilled(client, last.cells[0].converted.url) == ids(fresh)
    contracted = client.get(
        COHORTS, {"start": two_ago.strftime("%Y-%m"), "event": "contracted"}
    ).context["report"]
    assert contracted.rows[0].cells[2].converted.value == 0


@pytest.mark.parametrize("url", [WIN_LOSS, VELOCITY, COHORTS])
def test_consultants_and_outsiders_are_refused(client, consultant, outsider, url):
    for user in (consultant, outsider):
        client.force_login(user)
        assert client.get(url).status_code == 403
    client.logout()
    assert client.get(url).status_code == 302


@pytest.mark.parametrize("url", [WIN_LOSS, VELOCITY, COHORTS])
def test_executives_see_every_team(client, executive, deals, url):
    client.force_login(executive)
    assert client.get(url).status_code == 200
    report = win_loss(user=executive, start=THIS_MONTH, end=THIS_MONTH)
    assert report.lost.value == 4  # the far team's too


def test_the_dashboard_links_to_the_pages(client, sales_manager):
    client.force_login(sales_manager)
    html = client.get(reverse("sales:dashboard")).content.decode()
    for url in (WIN_LOSS, VELOCITY, COHORTS):
        assert f'href="{url}"' in html


def _queries(client, url) -> int:
    cache.clear()
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_query_counts_do_not_grow_with_the_rows(
    client, sales_manager, building, consultant, other_consultant
):
    client.force_login(sales_manager)
    lose(sell(building, consultant, contract=False), consultant, "price")
    sell(building, consultant, contract=True)
    facts_refreshed()
    for url in (WIN_LOSS, VELOCITY, COHORTS):
        _queries(client, url)  # the session and the permissions, cached after once
    before = {url: _queries(client, url) for url in (WIN_LOSS, VELOCITY, COHORTS)}
    for actor, reason in ((other_consultant, "location"), (consultant, "other")):
        lose(sell(building, actor, contract=False, source="web"), actor, reason)
        sell(building, actor, contract=True, source="phone")
    facts_refreshed()
    after = {url: _queries(client, url) for url in (WIN_LOSS, VELOCITY, COHORTS)}
    assert after == before
    assert before[WIN_LOSS] <= 18  # with the session and permissions uncached
    # Within two minutes the same scope and filters are served from the cache.
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(VELOCITY).status_code == 200
    assert len(ctx.captured_queries) < after[VELOCITY] - 3


def test_the_figures_read_the_fact_tables_only(sales_manager, deals):
    with CaptureQueriesContext(connection) as ctx:
        win_loss(user=sales_manager, start=THIS_MONTH, end=THIS_MONTH)
        velocity(user=sales_manager, start=THIS_MONTH, end=THIS_MONTH)
        cohorts(user=sales_manager, start=THIS_MONTH, end=THIS_MONTH)
    live = ("sales_opportunity", "sales_stagechange", "customers_interaction")
    for query in ctx.captured_queries:
        assert not any(f'"{t}"' in query["sql"] for t in live), query["sql"]


def test_months_are_counted_across_the_year_boundary():
    assert add_months(date(2026, 11, 1), 2) == date(2027, 1, 1)
    assert add_months(date(2026, 1, 1), -1) == date(2025, 12, 1)
