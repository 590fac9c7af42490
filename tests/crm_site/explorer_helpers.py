"""Proof that an explorer table is its rows: open every cell's and total's drill-down
with the client and compare the list's rows with the figure. Any source whose list
lists the rows by ``row_key`` can reuse ``assert_table_is_its_rows``: one list row per
fact row, or per thing a distinct measure counts (a deal and its stages' stays)."""

from __future__ import annotations

from decimal import Decimal

from crm_site.explorer import Table


def drilled_pks(client, url: str) -> set[int]:
    """Every row the list opens for a drill URL, page by page."""
    pks: set[int] = set()
    number = 1
    while True:
        response = client.get(url, {"page": number} if number > 1 else {})
        assert response.status_code == 200, url
        assert response.context["drill"] is not None, "the list took the drill"
        page = response.context["page"]
        pks |= {row.pk for row in page.items}
        if not page.has_next:
            return pks
        number += 1


def figure_of(table: Table, pks: set[int], filters: dict):
    """The measure over the fact rows behind these list rows: a count is the number
    of rows the list shows; a sum or an average is over those rows' facts in the cell
    (a deal's stays in the cell's stages, not in every stage it went through)."""
    pivot = table.pivot
    source, measure = pivot.source, pivot.measure
    if measure.counts:
        return len(pks)
    rows = source.model.objects.filter(source.lookups(filters)).filter(
        **{f"{source.row_key}__in": list(pks)}
    )
    return rows.aggregate(v=measure.expression())["v"]


def _same(a, b) -> bool:
    if a is None or b is None:
        return (a or 0) == (b or 0)
    return Decimal(str(a)).quantize(Decimal("0.01")) == Decimal(str(b)).quantize(
        Decimal("0.01")
    )


def assert_table_is_its_rows(client, table: Table) -> int:
    """Every cell, row total, column total and the grand total equals the count or
    sum of the rows its link opens; returns how many links were checked."""
    cells = [c for line in table.lines for c in line.cells if c.url]
    cells += [line.total for line in table.lines]
    cells += [*table.column_totals, table.total]
    for cell in cells:
        pks = drilled_pks(client, cell.url)
        figure = figure_of(table, pks, cell.filters)
        assert _same(figure, cell.value), (cell.filters, cell.value, figure)
    return len(cells)
