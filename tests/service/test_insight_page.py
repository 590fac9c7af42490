"""The service insight page (service:insight): who may open it, that every number
links to the list of exactly the rows it counts, its charts show their numbers, and
its queries do not grow with the rows."""

from __future__ import annotations

import re
from decimal import Decimal
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm_site import insight
from service import services, services_work
from service.models import Contractor, RequestFact, WorkOrderFact
from tests.insight_fixtures import facts_refreshed
from tests.service import test_insight_facts

# The requests, work orders, chargeback and survey the facts' tests are built on.
history = test_insight_facts.history

pytestmark = pytest.mark.django_db

URL = reverse("service:insight")
DRILL = re.compile(r'href="(/service/(?:requests|work-orders)/\?drill=[^"]+)"')


@pytest.fixture
def page(client, history, service_manager):
    facts_refreshed()
    client.force_login(service_manager)
    response = client.get(URL)
    assert response.status_code == 200
    return response


def _drills(html: str) -> list[str]:
    return sorted({unescape(link) for link in DRILL.findall(html)})


def _rows_behind(user, url: str) -> set[int]:
    source, filters = insight.drill_read(parse_qs(urlsplit(url).query)["drill"][0])
    return set(source.rows_for(user, filters).values_list(source.row_key, flat=True))


def _shown(client, url: str) -> set[int]:
    response = client.get(url)
    assert response.status_code == 200
    assert response.context["drill"] is not None
    assert not response.context["page"].has_next
    return {row.pk for row in response.context["page"].items}


# Who may see it ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("service_manager", 200),
        ("executive", 200),
        ("service_agent", 403),
        ("consultant", 403),
        ("outsider", 403),
    ],
    indirect=["persona"],
)
def test_the_page_is_for_service_managers_and_above(client, persona, status):
    client.force_login(persona)
    assert client.get(URL).status_code == status
    assert client.get(reverse("service:insight-units")).status_code == status


def test_an_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 302 and "login" in response.url


def test_a_bad_period_shows_its_error_and_the_default_period(client, service_manager):
    client.force_login(service_manager)
    response = client.get(URL, {"months": "abc", "project": "999999"})
    assert response.status_code == 200
    form = response.context["form"]
    assert set(form.errors) == {"months", "project"}
    assert len(response.context["insight"].period.months) == 12
    assert 'class="invalid-feedback' in response.content.decode()


def test_the_dashboard_links_to_the_insight_page(client, service_manager):
    client.force_login(service_manager)
    html = client.get(reverse("service:dashboard")).content.decode()
    assert f'href="{URL}"' in html


# Every number opens exactly its rows --------------------------------------------------


def test_every_link_on_the_page_opens_exactly_the_rows_behind_it(
    client, page, service_manager
):
    links = _drills(page.content.decode())
    assert len(links) > 20
    for url in links:
        assert _shown(client, url) == _rows_behind(service_manager, url), url


def test_the_figures_equal_the_rows_their_links_open(
    client,
    page,
    service_manager,
    history,
    contractor,
):
    board = page.context["insight"]
    totals = board.totals
    everything = _rows_behind(service_manager, totals["url"])
    assert totals["requests"] == len(everything) == 6
    assert totals["cost"] == Decimal("500.00")
    assert totals["repeats"] == len(
        _rows_behind(service_manager, totals["repeats_url"])
    )
    assert totals["repeats"] == 1
    assert totals["answered"] == 1 and totals["satisfaction"] == Decimal("75.0")
    for month in board.trend.months:
        for cell in month["cells"]:
            assert cell["count"] == len(_rows_behind(service_manager, cell["url"]))
        assert month["total"] == len(_rows_behind(service_manager, month["url"]))
    for unit in board.units:
        assert unit["requests"] == len(_rows_behind(service_manager, unit["url"]))
        assert unit["repeats"] == len(
            _rows_behind(service_manager, unit["repeats_url"])
        )
    by_contractor = {row["contractor_id"]: row for row in board.contractors.rows}
    row = by_contractor[contractor.pk]
    assert (row["work_orders"], row["cost"], row["chargebacks"]) == (
        1,
        Decimal("300.00"),
        Decimal("120.00"),
    )
    assert _rows_behind(service_manager, row["url"]) == {history["fixed"].pk}
    internal = by_contractor[None]
    assert internal["cost"] == Decimal("200.00")
    assert _rows_behind(service_manager, internal["url"]) == {history["checked"].pk}
    plumbing = next(r for r in board.categories if r["value"] == "plumbing")
    assert plumbing["requests"] == 5 and plumbing["average_cost"] == Decimal("100.00")
    assert [r["value"] for r in board.satisfaction_by_category] == ["plumbing"]


def test_satisfaction_by_contractor_is_the_index_of_the_surveys_their_work_was_for(
    client, history, contractor, service_agent, service_manager
):
    """Each line averages the satisfaction index of the requests its work orders were
    for (answered surveys only) and counts those work orders; lowest first."""
    roofer = Contractor.objects.create(
        name="安居屋面", trade="屋面", warranty_months=12
    )
    other = history["other"]
    roofing = test_insight_facts._work(service_agent, other, "80.00", roofer)
    services_work.work_order_sign_off(
        actor=service_agent, work_order=roofing, note="好"
    )
    # Work for a request without an answered survey weighs in neither figure.
    test_insight_facts._work(service_agent, history["fresh"], "50.00", contractor)
    services.request_start(actor=service_agent, request=other)
    services.request_resolve(actor=service_agent, request=other, note="已修复")
    services.request_callback(
        actor=service_agent, request=other, satisfied=True, note="一般"
    )
    services.request_close(actor=service_agent, request=other)
    other.refresh_from_db()
    test_insight_facts._answer(other, 2)
    facts_refreshed()
    client.force_login(service_manager)
    board = client.get(URL).context["insight"]
    lines = board.satisfaction_by_contractor
    figures = {
        row["contractor_id"]: (row["answered"], row["satisfaction"]) for row in lines
    }
    assert figures == {
        roofer.pk: (1, Decimal("25.0")),
        contractor.pk: (1, Decimal("75.0")),  # the leak's survey; not the fresh one's
        None: (1, Decimal("75.0")),  # the internal check on the same leak
    }
    assert lines[0]["contractor_id"] == roofer.pk  # the lowest first
    by_contractor = {row["contractor_id"]: row for row in board.contractors.rows}
    assert by_contractor[contractor.pk]["work_orders"] == 2
    answered = _rows_behind(
        service_manager, by_contractor[contractor.pk]["answered_url"]
    )
    assert answered == {history["fixed"].pk}


def test_the_units_page_lists_units_with_repeats_and_links_their_requests(
    client,
    page,
    service_manager,
    history,
    units,
):
    response = client.get(reverse("service:insight-units"), {"months": 6})
    assert response.status_code == 200
    [unit] = response.context["units"]
    assert unit["unit_id"] == units[0].pk
    assert (unit["requests"], unit["repeats"]) == (3, 1)
    assert _shown(client, unit["repeats_url"]) == {history["leak"].pk}
    assert _shown(client, unit["url"]) == {
        history[name].pk for name in ("first", "leak", "other")
    }


def test_a_drill_through_the_request_list_keeps_to_the_users_scope(
    client, make_request, consultant, service_manager
):
    mine = make_request(actor=consultant)
    make_request()  # recorded by the desk: not the consultant's
    facts_refreshed()
    url = insight.drill_url(
        insight.source_named("service.requests"), {"category": "plumbing"}
    )
    client.force_login(consultant)
    assert _shown(client, url) == {mine.pk}
    client.force_login(service_manager)
    assert len(_shown(client, url)) == 2


def test_a_forged_drill_is_ignored_and_the_list_opens_as_usual(client, service_agent):
    client.force_login(service_agent)
    response = client.get(reverse("service:request-list"), {"drill": "forged"})
    assert response.status_code == 200 and response.context["drill"] is None
    assert response.context["view"] == "open"


def test_a_work_order_drill_shows_signed_off_and_pending_work(
    client, make_request, contractor, service_agent, service_manager
):
    request = make_request()
    pending = services_work.work_order_create(
        actor=service_agent,
        request=request,
        task="查看",
        assignee_kind="contractor",
        contractor=contractor,
        appointment_at=timezone.now(),
        cost=Decimal("80.00"),
    )
    facts_refreshed()
    url = insight.drill_url(
        insight.source_named("service.work_orders"), {"contractor": contractor.pk}
    )
    client.force_login(service_manager)
    assert _shown(client, url) == {pending.pk}
    assert WorkOrderFact.objects.get().cost == Decimal("80.00")


# Charts --------------------------------------------------------------------------------


def test_the_chart_has_its_figures_and_bars_carry_their_numbers_beside_them(page):
    html = page.content.decode()
    assert 'id="trend-chart"' in html and 'id="trend-data"' in html
    table = re.search(r'<table[^>]*data-testid="trend">(.*?)</table>', html, re.S)
    months = re.findall(r'<th scope="row" class="fw-normal">(\d{4}-\d{2})</th>', html)
    assert table and len(months) == 12
    bars = re.findall(r'<div class="progress-bar[^"]*"[^>]*>(.*?)</div>', html, re.S)
    assert bars and all(not inner.strip() for inner in bars)
    for bar in re.findall(r'<div class="progress[ "][^>]*>', html):
        assert 'aria-hidden="true"' in bar, bar
    cells = re.findall(r'<div class="bar-cell[^"]*">(.*?)</div></div>', html, re.S)
    assert cells
    for cell in cells:
        value = re.search(r'<span class="bar-value"[^>]*>([^<]+)</span>', cell)
        assert value and re.search(r"\d", value.group(1)), cell


# Queries ------------------------------------------------------------------------------


def _queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(URL).status_code == 200
    return len(queries)


def test_the_page_costs_the_same_queries_whatever_the_rows(
    client, make_request, units, contractor, service_agent, service_manager
):
    client.force_login(service_manager)

    def grow(n: int) -> None:
        for i in range(n):
            # Two requests per unit: each unit after the first has a repeat.
            request = make_request(unit=units[(i // 2) % 3])
            services_work.work_order_create(
                actor=service_agent,
                request=request,
                task="维修",
                assignee_kind="contractor",
                contractor=contractor,
                cost=Decimal("50.00"),
            )
        facts_refreshed()

    grow(2)
    _queries(client)  # warm the per-session and permission caches
    few = _queries(client)
    grow(6)
    assert RequestFact.objects.count() == 8
    assert _queries(client) == few


def test_the_units_page_costs_the_same_queries_whatever_the_rows(
    client, make_request, units, service_manager
):
    client.force_login(service_manager)
    url = reverse("service:insight-units")

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    for unit in units[:2]:
        make_request(unit=unit)
        make_request(unit=unit)
    facts_refreshed()
    count()
    few = count()
    for unit in units[2:6]:
        make_request(unit=unit)
        make_request(unit=unit)
    facts_refreshed()
    assert len(client.get(url).context["units"]) == 6
    assert count() == few
