"""Time in stage under a filter on several months, stages or buckets: each deal counts
once per cell and total, as COUNT(DISTINCT) would count it, without running one — by
its first row of a run of consecutive months (insight.Measure.runs), or of several
stages or buckets (insight.Measure.masks)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import connection
from django.db.models import Count, F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm_site import insight
from sales.models import DealChange, Opportunity, StageChange, StageDuration
from tests.factories import make_building
from tests.insight_fixtures import facts_refreshed, sell

pytestmark = pytest.mark.django_db

STAGES = "sales.stage_durations"
# Days after the deal was opened at which it moved on: stays spread over months, some
# months skipped (a deal's next month entered is not always the next month).
HISTORIES = [(35, 95), (1, 32), (40, 41), (5, 10), (70, 100), (20, 64), (2, 3)]


def approved(deal: Opportunity) -> DealChange:
    """The approved cancellation move_to() asks for to end a subscription."""
    return DealChange(opportunity=deal, status=DealChange.Status.APPROVED)


@pytest.fixture
def spread(consultant, other_consultant):
    first = make_building(project_name="安居·御景湾", floors=3, per_floor=4, skipped=())
    second = make_building(
        project_name="安居·滨江府", floors=2, per_floor=4, skipped=()
    )
    start = timezone.now() - timedelta(days=190)
    for n, days in enumerate(HISTORIES):
        building = first if n % 2 else second
        seller = consultant if n % 3 else other_consultant
        deal = sell(building, seller, contract=n % 2 == 0)
        if n == 3:
            # A subscription ends only through an approved cancellation.
            deal.move_to("lost", actor=seller, reason="price", change=approved(deal))
        opened = start + timedelta(days=23 * n)
        Opportunity.objects.filter(pk=deal.pk).update(created_at=opened)
        changes = list(deal.stage_changes.order_by("id"))
        for change, after in zip(changes, days, strict=False):
            at = opened + timedelta(days=after)
            StageChange.objects.filter(pk=change.pk).update(changed_at=at)
    facts_refreshed(STAGES)
    months = sorted(set(StageDuration.objects.values_list("entered_month", flat=True)))
    assert len(months) >= 5
    # Some deal entered stages in two months with a month or more between them.
    gaps = StageDuration.objects.filter(
        prev_month__lt=F("entered_month") - timedelta(days=31)
    )
    assert gaps.exists()
    first_month, last_month = months[0], months[-1]
    every = [first_month]
    while every[-1] < last_month:
        every.append(insight._next_month(every[-1]))
    return every


def _expected(months, dim_field, bucket=None, **lookups):
    rows = StageDuration.objects.filter(**lookups)
    if months is not None:
        rows = rows.filter(entered_month__in=months)
    if bucket is not None:
        rows = rows.filter(bucket=bucket)
    total = rows.aggregate(n=Count("deal_id", distinct=True))["n"]
    if dim_field is None:
        return total, {}
    per = rows.values(dim_field).annotate(n=Count("deal_id", distinct=True))
    return total, {r[dim_field]: r["n"] for r in per}


@pytest.mark.parametrize("bucket", [None, "d30"])
def test_every_run_of_months_counts_each_deal_once(executive, spread, bucket):
    source = insight.source_named(STAGES)
    measure = source.measure("deals")
    runs = [
        spread[i:j] for i in range(len(spread)) for j in range(i + 2, len(spread) + 1)
    ]
    assert len(runs) >= 10
    for dim in (None, "consultant", "project", "bucket", "stage"):
        dims = [source.dimension(dim)] if dim else []
        field = source.dimension(dim).field if dim else None
        for months in runs:
            filters = {"entered_month": months}
            if bucket is not None:
                filters["bucket"] = bucket
            with CaptureQueriesContext(connection) as queries:
                table = insight.pivot(executive, source, measure, dims, filters)
            total, per = _expected(months, field, bucket)
            assert table.total == total, (dim, months)
            assert table.row_totals == per, (dim, months)
            _assert_no_distinct(queries)


def _assert_no_distinct(queries):
    counted = [q["sql"] for q in queries if "sales_stageduration" in q["sql"]]
    assert counted and not any("COUNT(DISTINCT" in sql for sql in counted)


@pytest.mark.parametrize(
    "filters",
    [
        {"stage": "every"},
        {"stage": "two"},
        {"bucket": "every"},
        {"bucket": "two"},
        {"stage": "two", "bucket": "one"},
        {"bucket": "two", "stage": "one"},
        {"stage": "every", "entered_month": "one"},
        {"bucket": "two", "entered_month": "one"},
    ],
)
def test_several_stages_or_buckets_count_each_deal_once(executive, spread, filters):
    values = {
        key: sorted(set(StageDuration.objects.values_list(key, flat=True)))
        for key in ("stage", "bucket", "entered_month")
    }
    assert len(values["stage"]) >= 4 and len(values["bucket"]) >= 4
    chosen = {}
    for key, how in filters.items():
        every = values[key]
        # "two": the second and the last value, so that for most deals some row of
        # theirs before the one counted is left out.
        chosen[key] = {"every": every, "two": [every[1], every[-1]], "one": every[2]}[
            how
        ]
    source = insight.source_named(STAGES)
    lookups = {
        f"{key}__in" if isinstance(value, list) else key: value
        for key, value in chosen.items()
    }
    for dim in (None, "consultant", "project", "bucket", "stage", "entered_month"):
        dims = [source.dimension(dim)] if dim else []
        with CaptureQueriesContext(connection) as queries:
            table = insight.pivot(
                executive, source, source.measure("deals"), dims, chosen
            )
        field = source.dimension(dim).field if dim else None
        total, per = _expected(None, field, **lookups)
        assert table.total == total, dim
        assert table.row_totals == per, dim
        # The masks are kept per deal, per deal and bucket, per deal and month: a
        # third varying dimension narrowed (month split, stage and bucket filtered)
        # is counted by COUNT(DISTINCT), as is a split by the filtered dimension.
        varying = {dim, *chosen} & {"stage", "bucket", "entered_month"}
        if dim not in chosen and len(varying) < 3:
            _assert_no_distinct(queries)


def test_two_dimensions_under_a_run_count_cells_rows_and_columns_once(
    executive, spread
):
    source = insight.source_named(STAGES)
    table = insight.pivot(
        executive,
        source,
        source.measure("deals"),
        [source.dimension("consultant"), source.dimension("bucket")],
        {"entered_month": spread[1:5]},
    )
    rows = StageDuration.objects.filter(entered_month__in=spread[1:5])
    cells = rows.values("consultant_id", "bucket").annotate(
        n=Count("deal_id", distinct=True)
    )
    assert table.cells == {(c["consultant_id"], c["bucket"]): c["n"] for c in cells}
    assert table.row_totals == _expected(spread[1:5], "consultant_id")[1]
    assert table.column_totals == _expected(spread[1:5], "bucket")[1]
    assert table.total == _expected(spread[1:5], None)[0]


@pytest.mark.parametrize(
    ("values", "start"),
    [
        ([date(2026, 1, 1), date(2026, 2, 1)], date(2026, 1, 1)),
        (
            [date(2026, 3, 1), date(2025, 12, 1), date(2026, 1, 1), date(2026, 2, 1)],
            date(2025, 12, 1),
        ),
        ([date(2026, 1, 1)], None),  # one month: its own first-row flag
        ([date(2026, 1, 1), date(2026, 3, 1)], None),  # a month missing
        ([date(2026, 1, 1), date(2026, 1, 1)], None),
        ([date(2026, 1, 1), date(2026, 2, 15)], None),  # a day, not a month
        ([date(2026, 1, 1), None], None),  # "(none)" ticked
        ("2026-01-01", None),
    ],
)
def test_a_run_is_two_or_more_consecutive_whole_months(values, start):
    assert insight._run_start(values) == start


def test_a_week_report_never_counts_by_runs():
    measure = insight.source_named(STAGES).measure("deals")
    months = [date(2026, 1, 1), date(2026, 2, 1)]
    filters = {"entered_month": months}
    assert insight._count_how(measure, [], filters).previous == "prev_month"
    assert insight._count_how(measure, [], filters, by_day=True) == "distinct"
