"""The explorer page (crm_site.views_explorer): every cell is the rows it opens, each
user counts only their scope, bad parameters say what is wrong, the export is the
same table, and saved views belong to their owner."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.translation import gettext, override
from openpyxl import load_workbook

from crm_site.models import ExplorerView
from sales.models import DealChange, Opportunity, StageChange, StageDuration
from tests.crm_site.explorer_helpers import assert_table_is_its_rows
from tests.factories import make_building
from tests.insight_fixtures import facts_refreshed, sell

pytestmark = pytest.mark.django_db

DEALS = "sales.deals"
URL = reverse("explorer")


def approved(deal: Opportunity) -> DealChange:
    """The approved cancellation move_to() asks for to end a subscription."""
    return DealChange(opportunity=deal, status=DealChange.Status.APPROVED)


@pytest.fixture
def deals(consultant, other_consultant, far_consultant):
    """Two projects; the first team's deals in several stages, and one of another
    team that its sales manager must never count."""
    first = make_building(project_name="安居·御景湾", floors=3, per_floor=4, skipped=())
    second = make_building(
        project_name="安居·滨江府", floors=2, per_floor=4, skipped=()
    )
    made = [
        sell(first, consultant, contract=True),
        sell(first, consultant, contract=False, source="phone"),
        sell(first, other_consultant, contract=True, pay=True),
        sell(second, other_consultant, contract=False),
        sell(second, consultant, contract=True),
    ]
    lost = sell(second, other_consultant, contract=False)
    # A subscription ends only through an approved cancellation (APPROVED_CHANGE_ONLY).
    lost.move_to("lost", actor=other_consultant, reason="price", change=approved(lost))
    far = sell(second, far_consultant, contract=True)
    facts_refreshed(DEALS)
    return {"mine": [*made, lost], "far": far, "projects": (first, second)}


def _get(client, user, **params):
    client.force_login(user)
    return client.get(URL, params)


def test_every_cell_and_total_is_the_rows_its_drill_down_opens(
    client, deals, sales_manager
):
    response = _get(client, sales_manager, measure="deals", dim=["project", "stage"])
    assert response.status_code == 200
    table = response.context["result"]
    assert table.total.value == len(deals["mine"])
    assert len(table.lines) == 2 and table.two
    assert assert_table_is_its_rows(client, table) >= 9


STAGES = "sales.stage_durations"
MONTHS = "every month entered"
LATER = "every month entered but the first"


@pytest.fixture
def stays(deals):
    """The deals' stays in their stages; one deal's history spread over two months
    and two time buckets, so that its stays fall in different months too."""
    deal = deals["mine"][0]
    opened = timezone.now() - timedelta(days=45)
    Opportunity.objects.filter(pk=deal.pk).update(created_at=opened)
    for n, change in enumerate(deal.stage_changes.order_by("id")):
        at = opened + timedelta(days=10 * n + 2)
        StageChange.objects.filter(pk=change.pk).update(changed_at=at)
    facts_refreshed(STAGES)
    rows = StageDuration.objects.filter(deal_id__in=[d.pk for d in deals["mine"]])
    # Every deal went through several stages, one of them over two months.
    assert rows.count() >= 3 * len(deals["mine"])
    assert rows.filter(deal_id=deal.pk).values("entered_month").distinct().count() > 1
    return deals


@pytest.mark.parametrize(
    ("measure", "dims", "filters"),
    [
        ("deals", [], {}),
        ("deals", ["project", "stage"], {}),
        ("deals", ["stage", "consultant"], {}),
        ("deals", ["entered_month"], {}),
        ("deals", ["entered_month", "stage"], {}),
        ("deals", ["stage", "entered_month"], {}),
        ("deals", ["consultant"], {"f.entered_month": MONTHS}),
        ("deals", ["bucket"], {"f.entered_month": MONTHS}),
        ("deals", ["project"], {"f.entered_month": LATER}),
        ("deals", ["bucket"], {"f.entered_month": LATER}),
        ("deals", ["entered_month", "bucket"], {"f.entered_month": MONTHS}),
        ("deals", ["project", "bucket"], {}),
        ("deals", ["entered_month", "bucket"], {}),
        ("deals", ["channel"], {"f.stage": ["visited", "subscribed"]}),
        ("deals", ["consultant"], {"f.stage": "subscribed"}),
        ("days_total", ["project", "stage"], {}),
    ],
)
def test_time_in_stage_counts_each_deal_its_drill_down_opens_once(
    client, stays, sales_manager, measure, dims, filters
):
    months = sorted(set(StageDuration.objects.values_list("entered_month", flat=True)))
    if filters.get("f.entered_month") == MONTHS:
        filters = {"f.entered_month": [m.isoformat() for m in months]}
    elif filters.get("f.entered_month") == LATER:
        # Not the month of the spread deal's first stays, and an empty one: several
        # months, so each deal is counted among its own stays of those months.
        filters = {"f.entered_month": [m.isoformat() for m in months[1:]]}
        filters["f.entered_month"].append("2020-01-01")
    response = _get(
        client, sales_manager, source=STAGES, measure=measure, dim=dims, **filters
    )
    assert response.status_code == 200
    table = response.context["result"]
    assert table is not None, response.context["query"].errors
    if measure == "deals" and not filters:
        # A deal counts once in the grand total, not once per stage it went through.
        assert table.total.value == len(stays["mine"])
    assert assert_table_is_its_rows(client, table) >= 1


def test_every_amount_is_the_sum_of_the_rows_its_drill_down_opens(
    client, deals, sales_manager
):
    response = _get(client, sales_manager, measure="amount", dim=["consultant"])
    table = response.context["result"]
    expected = sum(d.agreed_price for d in deals["mine"])
    assert Decimal(table.total.value) == expected
    assert assert_table_is_its_rows(client, table) == len(table.lines) + 1
    # Money is written as money.
    assert "¥" in table.total.text


def test_a_sales_manager_counts_only_their_teams_deals_and_the_executive_all(
    client, deals, sales_manager, executive
):
    table = _get(client, sales_manager, dim=["consultant"]).context["result"]
    consultants = {line.value for line in table.lines}
    assert deals["far"].consultant_id not in consultants
    table = _get(client, executive, dim=["consultant"]).context["result"]
    assert table.total.value == len(deals["mine"]) + 1


@pytest.mark.parametrize("persona", ["outsider", "consultant"], indirect=True)
def test_the_explorer_is_refused_without_its_permission(client, persona):
    client.force_login(persona)
    assert client.get(URL).status_code == 403
    assert client.get(reverse("explorer-export")).status_code == 403
    assert client.get(reverse("report-list")).status_code == 403
    assert client.post(reverse("explorer-view-save"), {"name": "x"}).status_code == 403


def test_a_user_without_the_sources_permission_is_offered_no_source(client, marketer):
    response = _get(client, marketer, source=DEALS)
    assert response.status_code == 200
    assert response.context["result"] is None
    assert DEALS not in [s.key for s in response.context["query"].sources]


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"measure": "profit"}, "measure", "profit"),
        ({"dim": ["project", "planet"]}, "dim", "planet"),
        ({"dim": ["stage", "stage"]}, "dim", ""),
        ({"dim": ["stage", "project", "channel"]}, "dim", ""),
        ({"f.project": "abc"}, "filters", ""),
        ({"f.project": "9" * 30}, "filters", ""),
        ({"f.month": "2026-13-01"}, "filters", ""),
        ({"f.planet": "1"}, "filters", ""),
        ({"source": "nowhere"}, "source", ""),
    ],
)
def test_bad_parameters_say_what_is_wrong_next_to_the_field(
    client, sales_manager, params, field, words
):
    response = _get(client, sales_manager, **params)
    assert response.status_code == 200
    errors = response.context["query"].errors
    assert field in errors and words in errors[field], errors
    assert response.context["result"] is None
    assert escape(errors[field]) in response.content.decode()
    export = client.get(reverse("explorer-export"), params)
    assert export.status_code == 400


def test_filters_offer_the_values_in_the_users_rows_with_their_labels(
    client, deals, sales_manager, consultant, far_consultant
):
    response = _get(client, sales_manager, add="consultant")
    labels = dict(response.context["choices"])
    assert labels[str(consultant.pk)] == consultant.display_name
    assert str(far_consultant.pk) not in labels
    # Chosen values narrow the table; empty values are a value too.
    table = _get(
        client, sales_manager, dim=["stage"], **{"f.consultant": str(consultant.pk)}
    ).context["result"]
    assert table.total.value == 3
    assert_table_is_its_rows(client, table)
    table = _get(
        client, sales_manager, dim=["project"], **{"f.lost_reason": "__none__"}
    ).context["result"]
    assert table.total.value == len(deals["mine"]) - 1


def test_the_page_says_when_its_data_were_refreshed(client, deals, sales_manager):
    body = _get(client, sales_manager).content.decode()
    assert 'data-testid="refreshed"' in body
    assert client.get(URL).context["refreshed_at"] is not None


def test_the_page_costs_the_same_queries_however_many_rows(
    client, deals, sales_manager, consultant, django_assert_max_num_queries
):
    client.force_login(sales_manager)
    params = {"measure": "amount", "dim": ["project", "stage"], "f.channel": "wechat"}
    client.get(URL, params)  # warm the session and the permission cache
    with django_assert_max_num_queries(14) as few:
        client.get(URL, params)
    building = deals["projects"][0]
    for _ in range(4):
        sell(building, consultant, contract=True)
    facts_refreshed(DEALS)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(URL, params)
    assert response.context["result"].total.value is not None


def test_the_export_is_the_pivot_as_a_workbook(client, deals, sales_manager):
    client.force_login(sales_manager)
    params = {"measure": "amount", "dim": ["project", "stage"], "f.channel": "wechat"}
    table = client.get(URL, params).context["result"]
    response = client.get(reverse("explorer-export"), params)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    source, measure = table.pivot.source, table.pivot.measure
    dims = " × ".join(str(d.label) for d in table.pivot.dimensions)
    assert rows[0][0] == f"{source.label} · {measure.label} · {dims}"
    assert response.content  # the title names the source, the measure, the dimensions
    assert rows[1][0] == str(source.dimension("channel").label)
    with override("zh-hans"):
        refreshed, total_label = gettext("Data refreshed"), gettext("Total")
    assert rows[2][0] == refreshed and rows[2][1]
    header = rows[4]
    assert header[-1] == total_label
    assert header[1:-1] == [label for _v, label in table.columns]
    body = rows[5 : 5 + len(table.lines)]
    assert [r[0] for r in body] == [line.label for line in table.lines]
    total = rows[5 + len(table.lines)]
    assert total[0] == total_label
    assert Decimal(str(total[-1])) == Decimal(table.total.value)
    assert isinstance(total[-1], float | int)
    amount_cell = sheet.cell(row=6 + len(table.lines), column=len(header))
    assert amount_cell.number_format == "#,##0.00"


def test_a_saved_view_is_its_owners_only(client, sales_manager, executive):
    client.force_login(sales_manager)
    response = client.post(
        reverse("explorer-view-save"),
        {"name": "每周成交", "source": DEALS, "measure": "deals", "dim": "stage"},
    )
    assert response.status_code == 302
    view = ExplorerView.objects.get()
    assert view.owner == sales_manager and view.params["dim"] == ["stage"]
    page = client.get(reverse("report-list"))
    assert "每周成交" in page.content.decode()
    opened = client.get(page.context["views"][0].url)
    assert opened.context["query"].dimensions[0].key == "stage"

    client.force_login(executive)
    assert "每周成交" not in client.get(reverse("report-list")).content.decode()
    gone = client.post(reverse("explorer-view-delete"), {"id": view.pk})
    assert gone.status_code == 404
    assert ExplorerView.objects.filter(pk=view.pk).exists()

    client.force_login(sales_manager)
    client.post(reverse("explorer-view-delete"), {"id": view.pk})
    assert not ExplorerView.objects.exists()


def test_a_view_without_a_name_is_not_saved(client, sales_manager):
    client.force_login(sales_manager)
    response = client.post(reverse("explorer-view-save"), {"name": " ", "dim": "stage"})
    assert response.status_code == 400
    assert response.context["save_errors"]["name"]
    assert not ExplorerView.objects.exists()


@pytest.mark.parametrize(
    ("persona", "shown"),
    [("sales_manager", True), ("executive", True), ("consultant", False)],
    indirect=["persona"],
)
def test_the_navigation_links_the_explorer_for_its_users(client, persona, shown):
    client.force_login(persona)
    body = client.get(reverse("notifications")).content.decode()
    assert ('data-testid="nav-explorer"' in body) == shown


def test_the_chart_prints_each_rows_figure_beside_its_bar(client, deals, sales_manager):
    body = _get(client, sales_manager, measure="amount", dim=["project"]).content
    html = body.decode()
    chart = re.search(r'data-testid="explorer-chart">(.*?)</ul>', html, re.S).group(1)
    bars = re.findall(r'<div class="progress-bar"[^>]*>(.*?)</div>', chart, re.S)
    assert len(bars) == 2 and all(not inner.strip() for inner in bars)
    assert chart.count('<div class="progress" aria-hidden="true">') == 2
    values = re.findall(r'<span class="bar-value">([^<]+)</span>', chart)
    assert len(values) == 2 and all(v.startswith("¥") for v in values)


def test_the_saved_views_page_costs_the_same_queries_however_many_views(
    client, sales_manager, django_assert_max_num_queries
):
    client.force_login(sales_manager)
    client.get(reverse("report-list"))
    with django_assert_max_num_queries(10) as few:
        client.get(reverse("report-list"))
    for n in range(5):
        ExplorerView.objects.create(
            owner=sales_manager, name=f"v{n}", source=DEALS, params={"dim": ["stage"]}
        )
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(reverse("report-list"))


def test_a_row_label_narrows_the_view_to_its_value(client, deals, sales_manager):
    response = _get(client, sales_manager, dim=["project", "stage"])
    line = response.context["result"].lines[0]
    narrowed = client.get(f"{URL}?{line.narrow}").context["result"]
    assert [ln.value for ln in narrowed.lines] == [line.value]
    assert narrowed.total.value == line.total.value


def test_a_filter_on_an_id_outside_the_users_rows_names_no_one(
    client, deals, sales_manager, administrator, far_consultant
):
    """Any user id typed into the address: the figures are empty (scoped), and the
    filter's chip and the export do not say whose id it is."""
    administrator.last_name, administrator.first_name = "钱", "管理员"
    administrator.save()
    client.force_login(sales_manager)
    for stranger in (administrator, far_consultant):
        params = {
            "source": "sales.deals",
            "measure": "deals",
            "f.consultant": stranger.pk,
        }
        page = client.get(URL, params).content.decode()
        export = client.get(reverse("explorer-export"), params)
        sheet = load_workbook(io.BytesIO(export.content)).active
        cells = " ".join(
            str(c) for row in sheet.iter_rows(values_only=True) for c in row
        )
        assert stranger.display_name not in page
        assert stranger.display_name not in cells
        assert str(stranger.pk) in cells  # the filter still says what it is
