"""The service insight page's figures (service:insight), read from the fact tables
only (service.insight): requests by category over time, units with repeated
requests, cost per request and per contractor, satisfaction by category and by
contractor.

Every figure carries the drill link (crm_site.insight.drill_url) that opens the list
of exactly the rows it counts or sums, so each query below groups the same rows its
links name: the user's scope, the period's months, the project, then the figure's own
dimension values. The number of queries does not depend on the number of rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import Avg, Count, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from crm_site import insight
from sales.models import Unit
from service.insight import (
    REQUEST_SOURCE,
    REQUESTS,
    WORK_ORDER_SOURCE,
    WORK_ORDERS,
)
from service.models import Category, Contractor

PERIODS = (6, 12, 24)
DEFAULT_MONTHS = 12
# Contractors listed on the page (largest cost first); the explorer has them all.
CONTRACTOR_ROWS = 30
REPEATED_UNITS_ON_PAGE = 10


def months_back(count: int, *, today: date | None = None) -> list[date]:
    """The first days of the last ``count`` months, this one included, oldest first."""
    today = today or timezone.localdate()
    year, month = today.year, today.month
    out = []
    for _i in range(count):
        out.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


@dataclass(frozen=True)
class Period:
    """What the page shows: requests opened in these months, of one project or all."""

    months: list[date]
    project_id: int | None = None

    def request_filters(self, **more: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"month": list(self.months)}
        if self.project_id:
            out["project"] = self.project_id
        return out | more

    def work_order_filters(self, **more: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"request_month": list(self.months)}
        if self.project_id:
            out["project"] = self.project_id
        return out | more


def request_url(period: Period, **cell: Any) -> str:
    return insight.drill_url(REQUEST_SOURCE, period.request_filters(**cell))


def work_order_url(period: Period, **cell: Any) -> str:
    return insight.drill_url(WORK_ORDER_SOURCE, period.work_order_filters(**cell))


def _average(value) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(Decimal("0.1"))


def _money(value) -> Decimal:
    return Decimal(value or 0).quantize(Decimal("0.01"))


def _average_money(value) -> Decimal | None:
    return None if value is None else _money(value)


def _requests(user, period: Period) -> QuerySet:
    return REQUEST_SOURCE.rows_for(user, period.request_filters())


def _work_orders(user, period: Period) -> QuerySet:
    return WORK_ORDER_SOURCE.rows_for(user, period.work_order_filters())


# --- Headline figures --------------------------------------------------------------------


REQUEST_AGGREGATES = {
    "request_count": Count("pk"),
    "cost_sum": Sum("cost"),
    "cost_avg": Avg("cost"),
    "chargebacks_sum": Sum("chargebacks"),
    "net_cost_sum": Sum("net_cost"),
    "hours_avg": Avg("hours_to_close"),
    "closed_count": Count("pk", filter=Q(status="closed")),
    "satisfaction_avg": Avg("satisfaction"),
    "answered_count": Count("pk", filter=Q(answered=True)),
    "repeat_count": Count("pk", filter=Q(repeat=True)),
    "overdue_count": Count("pk", filter=Q(overdue=True)),
}


def _row(values: dict, period: Period, **cell: Any) -> dict:
    """One line of request figures and the drill link of each: the rows a count or
    sum was taken over, the closed ones for hours, the answered ones for satisfaction."""
    return {
        "requests": values["request_count"],
        "cost": _money(values["cost_sum"]),
        "average_cost": _average_money(values["cost_avg"]),
        "chargebacks": _money(values["chargebacks_sum"]),
        "net_cost": _money(values["net_cost_sum"]),
        "hours": _average(values["hours_avg"]),
        "closed": values["closed_count"],
        "satisfaction": _average(values["satisfaction_avg"]),
        "answered": values["answered_count"],
        "repeats": values["repeat_count"],
        "overdue": values["overdue_count"],
        "url": request_url(period, **cell),
        "closed_url": request_url(period, **cell, status="closed"),
        "answered_url": request_url(period, **cell, answered=True),
        "repeats_url": request_url(period, **cell, repeat=True),
        "overdue_url": request_url(period, **cell, overdue=True),
    }


# --- Requests by category over time ----------------------------------------------------


@dataclass
class Trend:
    """Months × categories: counts, each with its drill link, and the chart's data."""

    months: list[dict] = field(default_factory=list)
    categories: list[dict] = field(default_factory=list)
    total: int = 0
    total_url: str = ""
    chart: dict = field(default_factory=dict)


def trend(user, period: Period) -> Trend:
    source = REQUEST_SOURCE
    table = insight.pivot(
        user,
        source,
        source.measure("requests"),
        [source.dimension("month"), source.dimension("category")],
        period.request_filters(),
    )
    labels = dict(Category.choices)
    present = [value for value, _label in table.columns if value is not None]
    # Categories in their declared order, only those with requests in the period.
    order = [value for value in Category.values if value in present]
    categories = [
        {
            "value": value,
            "label": str(labels[value]),
            "total": table.column_totals.get(value, 0),
            "url": request_url(period, category=value),
        }
        for value in order
    ]
    months = []
    for month in period.months:
        cells = [
            {
                "count": table.cells.get((month, value), 0),
                "url": request_url(period, month=month, category=value),
            }
            for value in order
        ]
        months.append(
            {
                "month": month,
                "label": month.strftime("%Y-%m"),
                "cells": cells,
                "total": table.row_totals.get(month, 0),
                "url": request_url(period, month=month),
            }
        )
    return Trend(
        months=months,
        categories=categories,
        total=table.total or 0,
        total_url=request_url(period),
        chart={
            "labels": [m["label"] for m in months],
            "datasets": [
                {
                    "label": c["label"],
                    "data": [m["cells"][i]["count"] for m in months],
                }
                for i, c in enumerate(categories)
            ],
        },
    )


# --- Units with repeated requests --------------------------------------------------------


def repeated_units(user, period: Period) -> QuerySet:
    """Units with at least one repeat in the period, most repeats first: one row per
    unit (unit_id, requests, repeats), for paginate()."""
    return (
        _requests(user, period)
        .filter(unit_id__isnull=False)
        .order_by()
        .values("unit_id")
        .annotate(
            requests=Count("pk"),
            repeats=Count("pk", filter=Q(repeat=True)),
        )
        .filter(repeats__gte=1)
        .order_by("-repeats", "-requests", "unit_id")
    )


def unit_rows(rows: list[dict], period: Period) -> list[dict]:
    """A page of repeated units with their names (one query) and drill links."""
    units = Unit.objects.select_related("building__project").in_bulk(
        [row["unit_id"] for row in rows]
    )
    out = []
    for row in rows:
        unit = units.get(row["unit_id"])
        out.append(
            {
                **row,
                "project": unit.building.project.name if unit else "",
                "building": unit.building.name if unit else "",
                "number": unit.number if unit else str(row["unit_id"]),
                "url": request_url(period, unit=row["unit_id"]),
                "repeats_url": request_url(period, unit=row["unit_id"], repeat=True),
            }
        )
    return out


# --- By category, by contractor -------------------------------------------------------


def _bars(rows: list[dict], key: str) -> None:
    """Each row's ``bar``: its ``key`` as a percentage of the largest (HTML bars)."""
    top = max((row[key] for row in rows), default=0)
    for row in rows:
        row["bar"] = round(float(100 * row[key] / top), 1) if top else 0


def by_category(user, period: Period) -> list[dict]:
    """Cost and satisfaction per category: one grouped query, most expensive first."""
    labels = dict(Category.choices)
    rows = (
        _requests(user, period)
        .order_by()
        .values("category")
        .annotate(**REQUEST_AGGREGATES)
    )
    out = [
        {
            "value": row["category"],
            "label": str(labels.get(row["category"], row["category"])),
            **_row(row, period, category=row["category"]),
        }
        for row in rows
    ]
    _bars(out, "cost")
    return sorted(out, key=lambda r: (-r["cost"], -r["requests"], r["label"]))


def totals(user, period: Period) -> dict:
    return _row(_requests(user, period).aggregate(**REQUEST_AGGREGATES), period)


WORK_ORDER_AGGREGATES = {
    "work_order_count": Count("pk"),
    "cost_sum": Sum("cost"),
    "cost_avg": Avg("cost"),
    "chargebacks_sum": Sum("chargebacks"),
    "satisfaction_avg": Avg("satisfaction"),
    "answered_count": Count("pk", filter=Q(answered=True)),
}


def _work_row(values: dict, period: Period, **cell: Any) -> dict:
    return {
        "work_orders": values["work_order_count"],
        "cost": _money(values["cost_sum"]),
        "average_cost": _average_money(values["cost_avg"]),
        "chargebacks": _money(values["chargebacks_sum"]),
        "satisfaction": _average(values["satisfaction_avg"]),
        "answered": values["answered_count"],
        "url": work_order_url(period, **cell),
        "answered_url": work_order_url(period, **cell, answered=True),
    }


@dataclass
class Contractors:
    rows: list[dict]
    total: dict
    # More contractors than shown (the explorer lists them all).
    truncated: bool = False


def by_contractor(user, period: Period) -> Contractors:
    """Work orders (not cancelled) per contractor; departments' and crews' work
    together in one line. One grouped query, one for the names."""
    work = _work_orders(user, period)
    rows = list(
        work.order_by()
        .values("contractor_id")
        .annotate(**WORK_ORDER_AGGREGATES)
        .order_by("-cost_sum", "-work_order_count", "contractor_id")
    )
    shown = rows[:CONTRACTOR_ROWS]
    names = insight.names_of(Contractor)(
        [r["contractor_id"] for r in shown if r["contractor_id"]]
    )
    out = []
    for row in shown:
        contractor = row["contractor_id"]
        out.append(
            {
                "contractor_id": contractor,
                "label": names.get(contractor, str(contractor))
                if contractor
                else _("Departments and internal crews"),
                **_work_row(row, period, contractor=contractor),
            }
        )
    _bars(out, "cost")
    total = _work_row(work.aggregate(**WORK_ORDER_AGGREGATES), period)
    return Contractors(rows=out, total=total, truncated=len(rows) > len(shown))


# --- The page ----------------------------------------------------------------------------


@dataclass
class ServiceInsight:
    period: Period
    refreshed_at: Any
    totals: dict
    trend: Trend
    units: list[dict]
    more_units: bool
    categories: list[dict]
    contractors: Contractors

    @property
    def satisfaction_by_category(self) -> list[dict]:
        return _lowest_first(self.categories)

    @property
    def satisfaction_by_contractor(self) -> list[dict]:
        return _lowest_first(self.contractors.rows)


def _lowest_first(rows: list[dict]) -> list[dict]:
    """Rows with survey answers, the lowest satisfaction first (what needs work)."""
    return sorted(
        (row for row in rows if row["answered"]),
        key=lambda row: (row["satisfaction"], row["label"]),
    )


def service_insight(user, period: Period) -> ServiceInsight:
    units = list(repeated_units(user, period)[: REPEATED_UNITS_ON_PAGE + 1])
    return ServiceInsight(
        period=period,
        refreshed_at=insight.refreshed_at([REQUESTS.key, WORK_ORDERS.key]),
        totals=totals(user, period),
        trend=trend(user, period),
        units=unit_rows(units[:REPEATED_UNITS_ON_PAGE], period),
        more_units=len(units) > REPEATED_UNITS_ON_PAGE,
        categories=by_category(user, period),
        contractors=by_contractor(user, period),
    )
