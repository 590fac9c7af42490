"""Win/loss, time in stage and cohorts: the sales managers' analysis pages.

Every figure is read from the fact tables (sales.insight: DealFact, StageDuration),
within the user's deal scope, by a fixed number of grouped queries whatever the number
of rows; every count carries the explorer drill (crm_site.insight.drill_url) that opens
the deal list on exactly the rows it counted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import Aggregate, Avg, Count, FloatField, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm_site import insight
from crm_site.insight import names_of, user_names
from customers.models import Customer
from sales.insight import deal_scope, deals_source, stages_source
from sales.models import DealFact, Opportunity, Project, StageDuration
from sales.models.facts import Outcome

Stage = Opportunity.Stage
# The stages a deal passes through on its way; lost and paid are where it ends.
VELOCITY_STAGES = [
    Stage.NEW,
    Stage.CONTACTED,
    Stage.VISITED,
    Stage.RESERVED,
    Stage.SUBSCRIBED,
    Stage.CONTRACTED,
]
BUCKETS = list(StageDuration.Bucket)
# The cohort table's columns: month 0 (the month of the first visit) to month 12.
COHORT_OFFSETS = 13
COHORT_EVENTS = {
    "subscribed": ("subscribed_month", _("Subscribed")),
    "contracted": ("contracted_month", _("Contract signed")),
}


class Percentile(Aggregate):
    """PostgreSQL's percentile_cont: the continuous percentile of a column."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: str, fraction: float, **extra: Any) -> None:
        super().__init__(expression, fraction=float(fraction), **extra)


def months_between(start: date, end: date) -> list[date]:
    """The first days of the months from start's to end's, both included."""
    out: list[date] = []
    cursor = start.replace(day=1)
    while cursor <= end:
        out.append(cursor)
        cursor = add_months(cursor, 1)
    return out


def add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Figure:
    """A number and the link to the deals behind it."""

    value: Any
    url: str


@dataclass
class Row:
    key: Any
    label: str
    figures: dict[str, Figure] = field(default_factory=dict)
    share: float | None = None
    rate: float | None = None


def _rate(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


class _Filters:
    """The page's filters as explorer dimension values, for every drill."""

    def __init__(self, source: insight.Source, base: dict[str, Any]) -> None:
        self.source = source
        self.base = base

    def figure(self, value: Any, **more: Any) -> Figure:
        return Figure(value, insight.drill_url(self.source, {**self.base, **more}))


def _iso(months: Iterable[date]) -> list[str]:
    return [m.isoformat() for m in months]


def _choice_labels(choices) -> Callable[[list], dict]:
    names = {k: str(v) for k, v in choices}
    return lambda values: {v: names.get(v, v) for v in values}


# --- Win/loss ------------------------------------------------------------------------


@dataclass
class WinLoss:
    months: list[date]
    won: Figure
    lost: Figure
    closed: Figure
    won_amount: Decimal
    win_rate: float | None
    by_month: list[Row]
    lost_by_reason: list[Row]
    lost_by_reached: list[Row]
    by_consultant: list[Row]
    by_channel: list[Row]
    by_project: list[Row]


def win_loss(*, user, start: date, end: date, project_id: int | None = None) -> WinLoss:
    """Deals won (contract signed) and lost in the months from start to end."""
    months = months_between(start, end)
    base: dict[str, Any] = {"closed_month": _iso(months)}
    if project_id:
        base["project"] = project_id
    drill = _Filters(deals_source(), base)
    closed = DealFact.objects.filter(deal_scope(user)).filter(
        closed_month__in=months, outcome__in=[Outcome.WON, Outcome.LOST]
    )
    if project_id:
        closed = closed.filter(project_id=project_id)
    lost = closed.filter(outcome=Outcome.LOST)

    by_month_rows = closed.order_by().values("closed_month", "outcome")
    per_month: dict[date, dict[str, int]] = defaultdict(dict)
    won_amount = Decimal("0")
    for r in by_month_rows.annotate(n=Count("pk"), amount=Sum("contract_amount")):
        per_month[r["closed_month"]][r["outcome"]] = r["n"]
        if r["outcome"] == Outcome.WON:
            won_amount += r["amount"] or Decimal("0")
    won_n = sum(m.get(Outcome.WON, 0) for m in per_month.values())
    lost_n = sum(m.get(Outcome.LOST, 0) for m in per_month.values())
    by_month = [
        Row(
            month,
            month.strftime("%Y-%m"),
            {
                outcome: drill.figure(
                    per_month[month].get(outcome, 0),
                    outcome=outcome,
                    closed_month=month.isoformat(),
                )
                for outcome in (Outcome.WON, Outcome.LOST)
            },
            rate=_rate(
                per_month[month].get(Outcome.WON, 0),
                sum(per_month[month].values()),
            ),
        )
        for month in months
    ]

    def lost_rows(column: str, dimension: str, labels) -> list[Row]:
        counts = {
            r[column]: r["n"]
            for r in lost.order_by().values(column).annotate(n=Count("pk"))
        }
        names = labels(list(counts))
        ordered = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
        return [
            Row(
                key,
                names.get(key) or str(_("(none)")),
                {"lost": drill.figure(n, outcome=Outcome.LOST, **{dimension: key})},
                share=_rate(n, lost_n),
            )
            for key, n in ordered
        ]

    def rate_rows(column: str, dimension: str, labels) -> list[Row]:
        counts: dict[Any, dict[str, int]] = defaultdict(dict)
        for r in closed.order_by().values(column, "outcome").annotate(n=Count("pk")):
            counts[r[column]][r["outcome"]] = r["n"]
        names = labels(list(counts))
        rows = []
        for key, by in counts.items():
            won, lost_here = by.get(Outcome.WON, 0), by.get(Outcome.LOST, 0)
            here = {dimension: key}
            rows.append(
                Row(
                    key,
                    names.get(key) or str(_("(none)")),
                    {
                        "won": drill.figure(won, outcome=Outcome.WON, **here),
                        "lost": drill.figure(lost_here, outcome=Outcome.LOST, **here),
                        "closed": drill.figure(
                            won + lost_here, outcome=[Outcome.WON, Outcome.LOST], **here
                        ),
                    },
                    share=_rate(lost_here, lost_n),
                    rate=_rate(won, won + lost_here),
                )
            )
        rows.sort(key=lambda r: (-r.figures["closed"].value, r.label))
        return rows

    channel_labels = _choice_labels(Customer.Source.choices)
    return WinLoss(
        months=months,
        won=drill.figure(won_n, outcome=Outcome.WON),
        lost=drill.figure(lost_n, outcome=Outcome.LOST),
        closed=drill.figure(won_n + lost_n, outcome=[Outcome.WON, Outcome.LOST]),
        won_amount=won_amount,
        win_rate=_rate(won_n, won_n + lost_n),
        by_month=by_month,
        lost_by_reason=lost_rows(
            "lost_reason",
            "lost_reason",
            _choice_labels(Opportunity.LostReason.choices),
        ),
        lost_by_reached=lost_rows(
            "reached", "reached", _choice_labels(Opportunity.Stage.choices)
        ),
        by_consultant=rate_rows("consultant_id", "consultant", user_names),
        by_channel=rate_rows("channel", "channel", channel_labels),
        by_project=rate_rows("project_id", "project", names_of(Project)),
    )


# --- Time in stage --------------------------------------------------------------------


@dataclass
class StageStats:
    stage: str
    label: str
    count: Figure
    still: Figure
    average: float | None
    median: float | None
    p90: float | None
    buckets: list[Figure]
    # Median days by month entered (None: no finished stay that month).
    trend: list[Figure | None]
    trend_median: list[float | None]


@dataclass
class Velocity:
    months: list[date]
    stages: list[StageStats]
    buckets: list[tuple[str, str]]
    # [(consultant label, [median days or None per stage])]
    consultants: list[tuple[str, list[Figure | None]]]


def _days(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


def velocity(
    *, user, start: date, end: date, project_id: int | None = None
) -> Velocity:
    """Days spent in each stage, by the month the deals entered it: count, average,
    median and 90th percentile (finished stays only), the spread over buckets, the trend
    of the median by month and each consultant's median."""
    months = months_between(start, end)
    base: dict[str, Any] = {"entered_month": _iso(months)}
    if project_id:
        base["project"] = project_id
    drill = _Filters(stages_source(), base)
    rows = StageDuration.objects.filter(deal_scope(user)).filter(
        entered_month__in=months, stage__in=VELOCITY_STAGES
    )
    if project_id:
        rows = rows.filter(project_id=project_id)
    done = rows.filter(days__isnull=False)
    finished = [b.value for b in BUCKETS]

    stats = {
        r["stage"]: r
        for r in rows.order_by()
        .values("stage")
        .annotate(
            n=Count("pk", filter=Q(days__isnull=False)),
            still=Count("pk", filter=Q(days__isnull=True)),
            avg=Avg("days"),
            p50=Percentile("days", 0.5),
            p90=Percentile("days", 0.9),
        )
    }
    spread = {
        (r["stage"], r["bucket"]): r["n"]
        for r in done.order_by().values("stage", "bucket").annotate(n=Count("pk"))
    }
    trend = {
        (r["stage"], r["entered_month"]): (r["n"], r["p50"])
        for r in done.order_by()
        .values("stage", "entered_month")
        .annotate(n=Count("pk"), p50=Percentile("days", 0.5))
    }
    per_consultant = {
        (r["consultant_id"], r["stage"]): (r["n"], r["p50"])
        for r in done.order_by()
        .values("consultant_id", "stage")
        .annotate(n=Count("pk"), p50=Percentile("days", 0.5))
    }

    out: list[StageStats] = []
    for stage in VELOCITY_STAGES:
        s = stats.get(stage, {})
        trend_figures: list[Figure | None] = []
        trend_median: list[float | None] = []
        for month in months:
            n, p50 = trend.get((stage, month), (0, None))
            trend_median.append(_days(p50))
            trend_figures.append(
                drill.figure(_days(p50), stage=stage, entered_month=month.isoformat())
                if n
                else None
            )
        out.append(
            StageStats(
                stage=stage,
                label=str(Stage(stage).label),
                count=drill.figure(s.get("n", 0), stage=stage, bucket=finished),
                still=drill.figure(s.get("still", 0), stage=stage, bucket=[""]),
                average=_days(s.get("avg")),
                median=_days(s.get("p50")),
                p90=_days(s.get("p90")),
                buckets=[
                    drill.figure(spread.get((stage, b.value), 0), stage=stage, bucket=b)
                    for b in BUCKETS
                ],
                trend=trend_figures,
                trend_median=trend_median,
            )
        )

    consultant_ids = sorted({c for c, _stage in per_consultant})
    names = user_names(consultant_ids) if consultant_ids else {}
    consultants = []
    for consultant in consultant_ids:
        cells: list[Figure | None] = []
        for stage in VELOCITY_STAGES:
            n, p50 = per_consultant.get((consultant, stage), (0, None))
            cells.append(
                drill.figure(
                    _days(p50), stage=stage, consultant=consultant, bucket=finished
                )
                if n
                else None
            )
        consultants.append((names.get(consultant, str(consultant)), cells))
    consultants.sort(key=lambda c: c[0])
    return Velocity(
        months=months,
        stages=out,
        buckets=[(b.value, str(b.label)) for b in BUCKETS],
        consultants=consultants,
    )


# --- Cohorts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CohortCell:
    # The deals converted by the end of the month, and their share of the cohort.
    converted: Figure
    share: float | None

    @property
    def shade(self) -> str:
        """The cell's background opacity: darker for a larger share."""
        return f"{0.6 * (self.share or 0) / 100:.2f}"


@dataclass
class Cohort:
    month: date
    size: Figure
    # One cell per month after the first visit, None for months still to come.
    cells: list[CohortCell | None]


@dataclass
class Cohorts:
    months: list[date]
    event: str
    event_label: str
    offsets: list[int]
    rows: list[Cohort]


def cohorts(
    *,
    user,
    start: date,
    end: date,
    project_id: int | None = None,
    event: str = "subscribed",
) -> Cohorts:
    """Each month's first visits and the share of them that subscribed (or signed) by
    the end of month 0, 1, 2… after: a triangle, months to come left empty."""
    column, label = COHORT_EVENTS[event]
    months = months_between(start, end)
    this_month = timezone.localdate().replace(day=1)
    deals: QuerySet = DealFact.objects.filter(deal_scope(user)).filter(
        visit_month__in=months
    )
    if project_id:
        deals = deals.filter(project_id=project_id)
    counts: dict[date, dict[date | None, int]] = defaultdict(dict)
    for r in deals.order_by().values("visit_month", column).annotate(n=Count("pk")):
        counts[r["visit_month"]][r[column]] = r["n"]
    base: dict[str, Any] = {}
    if project_id:
        base["project"] = project_id
    drill = _Filters(deals_source(), base)
    offsets = list(range(min(COHORT_OFFSETS, len(months))))
    rows = []
    for month in months:
        by_event = counts.get(month, {})
        size = sum(by_event.values())
        cells: list[CohortCell | None] = []
        converted = 0
        for k in offsets:
            at = add_months(month, k)
            if at > this_month:
                cells.append(None)
                continue
            converted += by_event.get(at, 0)
            window = _iso(add_months(month, i) for i in range(k + 1))
            cells.append(
                CohortCell(
                    drill.figure(
                        converted,
                        visit_month=month.isoformat(),
                        **{event + "_month": window},
                    ),
                    _rate(converted, size),
                )
            )
        rows.append(
            Cohort(
                month=month,
                size=drill.figure(size, visit_month=month.isoformat()),
                cells=cells,
            )
        )
    return Cohorts(
        months=months,
        event=event,
        event_label=str(label),
        offsets=offsets,
        rows=rows,
    )
