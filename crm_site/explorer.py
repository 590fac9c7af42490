"""The explorer page's query (多维分析): parameters in, a pivot table and a workbook out.

The page is a GET form, so every view is a bookmarkable URL:
``?source=sales.deals&measure=deals&dim=project&dim=stage&f.stage=lost``.
``parse`` reads those parameters against the registered sources (crm_site.insight),
keeping a message next to each field that is wrong instead of failing; ``table``
turns the pivot into rows of formatted cells, each with the link to the real list of
its rows (``insight.drill_url``); ``workbook`` writes the same table as XLSX.
Nothing here names an app: every source, measure and dimension comes from the registry.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from crm_site import insight, spreadsheets
from crm_site.insight import Dimension, Kind, Measure, Pivot, Source
from crm_site.templatetags.money import yuan
from crm_site.validation import EARLIEST_DATE, LATEST_DATE

MAX_DIMENSIONS = 2
# Values offered for a filter: the distinct values present, at most this many.
FILTER_CHOICES = 300
# Values one filter may hold (a URL is not a data set).
MAX_FILTER_VALUES = 100
# The value of a filter that selects rows without a value (shown as "(none)").
NONE = "__none__"
FILTER_PREFIX = "f."
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass
class Query:
    """What the page asks, once parsed: whatever is valid, and a message per field."""

    sources: list[Source]
    source: Source | None = None
    measure: Measure | None = None
    dimensions: list[Dimension] = field(default_factory=list)
    # {dimension key: [parsed values]} (None: rows without a value)
    filters: dict[str, list[Any]] = field(default_factory=dict)
    # The dimension whose values the user asked to choose from (``add``).
    adding: Dimension | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return self.source is not None and self.measure is not None and not self.errors

    def params(self, **changes: Any) -> list[tuple[str, str]]:
        """The query string's pairs (for links, saved views and the export)."""
        pairs: list[tuple[str, str]] = []
        if self.source is not None:
            pairs.append(("source", self.source.key))
        if self.measure is not None:
            pairs.append(("measure", self.measure.key))
        pairs += [("dim", d.key) for d in self.dimensions]
        filters = changes.get("filters", self.filters)
        for key, values in filters.items():
            pairs += [(FILTER_PREFIX + key, encode(v)) for v in values]
        return pairs

    def querystring(self, **changes: Any) -> str:
        return urlencode(self.params(**changes))

    def pivot_filters(self) -> dict[str, Any]:
        return {
            k: [insight._plain(v) for v in values] for k, values in self.filters.items()
        }


def encode(value: Any) -> str:
    if value is None or value == "":
        return NONE
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _decode(source: Source, dim: Dimension, raw: str) -> Any:
    """A filter value from the URL as the fact column holds it; ValueError if not."""
    if raw == NONE:
        return None
    if "\x00" in raw or len(raw) > 200:
        raise ValueError(raw[:20])
    if dim.month:
        month = date.fromisoformat(raw).replace(day=1)
        # A month no row holds and whose drill-down's date arithmetic (the month
        # after it) would overflow: year 9999 is never what a user meant.
        if not EARLIEST_DATE <= month <= LATEST_DATE:
            raise ValueError(raw)
        return month
    model_field = source.model._meta.get_field(dim.field)
    try:
        value = model_field.to_python(raw)
    except ValidationError as exc:
        raise ValueError(raw) from exc
    if isinstance(value, int) and not -(2**63) < value < 2**63:
        raise ValueError(raw)
    return value


def querydict(params: dict[str, list[str]]) -> QueryDict:
    """A saved view's parameters ({name: [values]}) as the page's GET."""
    data = QueryDict(mutable=True)
    for key, values in params.items():
        data.setlist(key, [str(v) for v in values])
    return data


def parse(user, data: QueryDict) -> Query:
    """Read the page's GET parameters."""
    getlist, get = data.getlist, data.get
    query = Query(sources=insight.sources_for(user))
    key = (get("source") or "").strip()
    if not query.sources:
        return query
    if key:
        query.source = next((s for s in query.sources if s.key == key), None)
        if query.source is None:
            query.errors["source"] = _("Choose one of the sources offered.")
            return query
    else:
        query.source = query.sources[0]
    source = query.source
    measure = (get("measure") or "").strip()
    if measure:
        query.measure = source.measure(measure)
        if query.measure is None:
            query.errors["measure"] = _(
                "“%(measure)s” is not a measure of %(source)s; choose one offered."
            ) % {"measure": measure[:40], "source": source.label}
    else:
        query.measure = source.measures[0]
    keys = [k.strip() for k in getlist("dim") if k and k.strip()]
    if len(keys) > MAX_DIMENSIONS:
        query.errors["dim"] = _("Choose at most two dimensions.")
        keys = keys[:MAX_DIMENSIONS]
    seen: set[str] = set()
    for k in keys:
        dim = source.dimension(k)
        if dim is None:
            query.errors["dim"] = _(
                "“%(dimension)s” is not a dimension of %(source)s."
            ) % {"dimension": k[:40], "source": source.label}
        elif k in seen:
            query.errors["dim"] = _("Choose two different dimensions.")
        else:
            seen.add(k)
            query.dimensions.append(dim)
    for name in sorted(data.keys()):
        if not name.startswith(FILTER_PREFIX):
            continue
        dim = source.dimension(name[len(FILTER_PREFIX) :])
        if dim is None:
            query.errors["filters"] = _(
                "A filter names a dimension %(source)s lacks."
            ) % {"source": source.label}
            continue
        raw = [v for v in getlist(name) if v != ""]
        if not raw:
            continue
        if len(raw) > MAX_FILTER_VALUES:
            query.errors["filters"] = _("A filter may hold at most %(n)s values.") % {
                "n": MAX_FILTER_VALUES
            }
            continue
        try:
            values = [_decode(source, dim, v) for v in raw]
        except ValueError:
            query.errors["filters"] = _(
                "The filter on %(dimension)s has a value that is not one of its values."
            ) % {"dimension": dim.label}
            continue
        query.filters[dim.key] = list(dict.fromkeys(values))
    adding = (get("add") or "").strip()
    if adding:
        query.adding = source.dimension(adding)
        if query.adding is None:
            query.errors["add"] = _("Choose a dimension to filter by.")
    return query


# --- What the page and the workbook show ----------------------------------------------


def number(measure: Measure, value: Any) -> Any:
    """The cell's value as a number for a workbook (money to the fen)."""
    if value is None:
        return None
    if measure.kind == Kind.MONEY:
        return Decimal(value).quantize(Decimal("0.01"))
    if measure.kind == Kind.COUNT:
        return int(value)
    return round(float(value), max(measure.decimals, 1))


def display(measure: Measure, value: Any) -> str:
    """The cell's value as the page shows it."""
    if value is None:
        return "—"
    if measure.kind == Kind.MONEY:
        return yuan(value)
    if measure.kind == Kind.DURATION:
        return _("%(days)s d") % {"days": formats.number_format(value, 1)}
    if measure.kind == Kind.HOURS:
        return _("%(hours)s h") % {"hours": formats.number_format(value, 1)}
    if measure.kind == Kind.COUNT:
        return formats.number_format(int(value), 0, force_grouping=True)
    return formats.number_format(value, max(measure.decimals, 1))


@dataclass
class Cell:
    value: Any
    text: str
    url: str = ""
    filters: dict[str, Any] = field(default_factory=dict)


@dataclass
class Line:
    value: Any
    label: str
    cells: list[Cell]
    total: Cell
    # The bar's width, 0–100 (of the largest row total), for the chart.
    bar: float = 0.0
    # The page's query string narrowed to this row (set by the view).
    narrow: str = ""


@dataclass
class Table:
    pivot: Pivot
    columns: list[tuple[Any, str]]
    lines: list[Line]
    column_totals: list[Cell]
    total: Cell

    @property
    def two(self) -> bool:
        return len(self.pivot.dimensions) == 2


def _cell(source: Source, measure: Measure, value: Any, filters: dict) -> Cell:
    return Cell(
        value=value,
        text=display(measure, value),
        url=insight.drill_url(source, filters),
        filters=filters,
    )


def table(pivot: Pivot) -> Table:
    """The pivot as the page draws it: every cell and total with its drill link."""
    source, measure, dims = pivot.source, pivot.measure, pivot.dimensions
    two = len(dims) == 2
    columns = pivot.columns if two else []
    lines: list[Line] = []
    for row, label in pivot.rows:
        row_filters = dict(pivot.filters)
        row_filters[dims[0].key] = insight._plain(row)
        cells = []
        for column, _label in columns:
            if (row, column) in pivot.cells:
                cells.append(
                    _cell(
                        source,
                        measure,
                        pivot.cells[(row, column)],
                        pivot.cell_filters(row, column),
                    )
                )
            else:
                cells.append(Cell(value=None, text=""))
        lines.append(
            Line(
                value=row,
                label=label,
                cells=cells,
                total=_cell(source, measure, pivot.row_totals.get(row), row_filters),
            )
        )
    column_totals = []
    for column, _label in columns:
        filters = dict(pivot.filters)
        filters[dims[1].key] = insight._plain(column)
        column_totals.append(
            _cell(source, measure, pivot.column_totals.get(column), filters)
        )
    biggest = max((abs(float(ln.total.value or 0)) for ln in lines), default=0)
    for line in lines:
        if biggest:
            line.bar = round(abs(float(line.total.value or 0)) * 100 / biggest, 1)
    return Table(
        pivot=pivot,
        columns=columns,
        lines=lines,
        column_totals=column_totals,
        total=_cell(source, measure, pivot.total, dict(pivot.filters)),
    )


def run(user, query: Query, *, period: tuple[date, date] | None = None) -> Table | None:
    """The query's table; a report gives the ``period`` its rows are narrowed to."""
    if not query.valid:
        return None
    pivot = insight.pivot(
        user,
        query.source,
        query.measure,
        query.dimensions,
        query.pivot_filters(),
        period=period,
    )
    return table(pivot)


def filter_labels(user, query: Query) -> list[tuple[Dimension, list[tuple[str, str]]]]:
    """The filters in force, each value with its label and the value's code. A
    dimension whose labels are names read elsewhere (people, teams, campaigns,
    buildings) is labelled only for the values the user's rows hold: any id typed
    into the address would otherwise show whose it is (the figures, scoped, are
    empty for it); the others show their code. One or two queries per filtered
    dimension."""
    out = []
    for key, values in query.filters.items():
        dim = query.source.dimension(key)
        named = query.source.named(user, dim, values)
        labels = dim.label_map(query.source.model, named) if named else {}
        out.append((dim, [(encode(v), labels.get(v, str(v))) for v in values]))
    return out


def filter_choices(user, query: Query) -> list[tuple[str, str]]:
    """The values the ``adding`` dimension takes in the user's rows (two queries:
    the distinct values, at most FILTER_CHOICES, then their labels)."""
    dim = query.adding
    if dim is None or query.source is None:
        return []
    values = list(
        query.source.rows_for(user)
        .order_by(dim.field)
        .values_list(dim.field, flat=True)
        .distinct()[:FILTER_CHOICES]
    )
    labels = dim.label_map(query.source.model, values)
    return [(encode(v), labels[v]) for v in values]


def refreshed_at(source: Source | None):
    if source is None:
        return None
    return insight.refreshed_at(source.facts or (source.key,))


def title(query: Query) -> str:
    parts = [str(query.source.label)]
    # "Deals · Deals" says it once.
    if str(query.measure.label) != parts[0]:
        parts.append(str(query.measure.label))
    if query.dimensions:
        parts.append(" × ".join(str(d.label) for d in query.dimensions))
    return " · ".join(parts)


# --- The workbook --------------------------------------------------------------------


def _format(measure: Measure) -> str:
    if measure.kind == Kind.MONEY:
        return "#,##0.00"
    if measure.kind == Kind.COUNT:
        return "#,##0"
    return "0." + "0" * max(measure.decimals, 1)


def write_sheet(
    sheet,
    user,
    query: Query,
    result: Table,
    refreshed,
    period: tuple[date, date] | None,
) -> None:
    """Title, the report's period, filters, refresh time, then the table with its
    totals."""
    from openpyxl.styles import Font

    def append(values: list[Any]) -> None:
        # Labels are text from anywhere (a campaign's or a consultant's name): never
        # a formula, never a control character that breaks the file.
        sheet.append(spreadsheets.sheet_row(sheet, values))

    bold = Font(bold=True)
    append([title(query)])
    sheet["A1"].font = Font(bold=True, size=13)
    if period is not None:
        append([_("Period"), f"{period[0]:%Y-%m-%d} – {period[1]:%Y-%m-%d}"])
    for dim, values in filter_labels(user, query):
        append([str(dim.label), "、".join(v[1] for v in values)])
    when = (
        timezone.localtime(refreshed).strftime("%Y-%m-%d %H:%M")
        if refreshed
        else _("not yet refreshed")
    )
    append([_("Data refreshed"), when])
    append([])
    pivot = result.pivot
    dims = pivot.dimensions
    fmt = _format(pivot.measure)
    header = [str(dims[0].label) if dims else ""]
    if result.two:
        header[0] = f"{dims[0].label} \\ {dims[1].label}"
        header += [(label) for _v, label in result.columns]
    header.append(_("Total"))
    append(header)
    for cell in sheet[sheet.max_row]:
        cell.font = bold

    def put(values: list[Any], *, strong: bool = False) -> None:
        append(values)
        for cell in sheet[sheet.max_row][1:]:
            cell.number_format = fmt
            if strong:
                cell.font = bold
        if strong:
            sheet[sheet.max_row][0].font = bold

    measure = pivot.measure
    for line in result.lines:
        put(
            [(line.label)]
            + [number(measure, c.value) for c in line.cells]
            + [number(measure, line.total.value)]
        )
    put(
        [_("Total")]
        + [number(measure, c.value) for c in result.column_totals]
        + [number(measure, result.total.value)],
        strong=True,
    )
    if pivot.truncated:
        append([_("Only the largest rows and columns are listed; totals count all.")])
    sheet.column_dimensions["A"].width = 28


def workbook(
    user,
    query: Query,
    result: Table,
    refreshed,
    period: tuple[date, date] | None = None,
) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = _("Explorer")[:31]
    write_sheet(sheet, user, query, result, refreshed, period)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def filename(query: Query) -> str:
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return f"explorer-{query.source.key.replace('.', '-')}-{stamp}.xlsx"
