"""Pagination that never counts the whole table.

A page is read with one query (one row more than the page, to know whether another
page follows). How many rows match is then told as cheaply as it can be:

- when the page is the last one, the total is known without asking;
- otherwise the rows are counted up to ``PAGINATION_COUNT_CAP`` (a count over a
  subquery with ``LIMIT cap + 1``), so a count never reads more than cap + 1 matches;
- past the cap the planner's estimate for the list query (``EXPLAIN``, which plans
  but reads no rows) is shown rounded, as "about N".
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import connections
from django.db.models import QuerySet

# A page number is parsed from the query string: anything past this offset is
# "past the end" for every list we have, and keeps OFFSET inside bigint.
MAX_OFFSET = 10**9

# Counting 10,000 ids costs a few milliseconds; past that an exact figure is not
# worth a page view.
DEFAULT_COUNT_CAP = 10_000


@dataclass(frozen=True)
class Page:
    """One page of a list, without counting the whole table (cheap on a million rows)."""

    items: list
    number: int
    has_next: bool
    # True when the requested page was past the end (or not a page number) and
    # this is the page shown instead.
    moved: bool = False
    # How many rows match: exact, or the planner's rounded estimate when
    # total_is_estimate; None when the list was paginated without a count.
    total: int | None = None
    total_is_estimate: bool = False
    per_page: int = 25

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def last_page_number(self) -> int | None:
        """The last page when the total is exact, else None (not known cheaply)."""
        if self.total is None or self.total_is_estimate:
            return None
        return max(1, -(-self.total // self.per_page))


def count_cap() -> int:
    return int(getattr(settings, "PAGINATION_COUNT_CAP", DEFAULT_COUNT_CAP))


def parse_page_number(page: str | int | None) -> tuple[int, bool]:
    """The page number asked for, and whether the raw value had to be corrected."""
    if page in (None, ""):
        return 1, False
    try:
        number = int(str(page).strip())
    except (TypeError, ValueError):
        return 1, True
    if number < 1:
        return 1, True
    return number, False


def _slice(qs: QuerySet | Sequence, number: int, per_page: int) -> list:
    offset = (number - 1) * per_page
    return list(qs[offset : offset + per_page + 1])


def round_estimate(estimate: int) -> int:
    """Two significant digits: 1,000,312 -> 1,000,000; 12,345 -> 12,000."""
    if estimate < 100:
        return estimate
    unit = 10 ** (int(math.log10(estimate)) - 1)
    return round(estimate / unit) * unit


def planner_estimate(qs: QuerySet) -> int:
    """The planner's row estimate for the query: EXPLAIN plans it, reads no rows."""
    sql, params = qs.order_by().query.sql_with_params()
    with connections[qs.db].cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def _total(qs: QuerySet | Sequence) -> tuple[int, bool]:
    """(how many rows match, whether that is an estimate) for a list with more than
    one page."""
    if not isinstance(qs, QuerySet):
        return len(qs), False
    cap = count_cap()
    # Ordering does not change a count: dropping it lets the planner stop at the
    # first cap + 1 matches it finds in any order.
    counted = qs.order_by()[: cap + 1].count()
    if counted <= cap:
        return counted, False
    return round_estimate(max(planner_estimate(qs), cap + 1)), True


def paginate(
    qs: QuerySet | Sequence,
    *,
    page: str | int | None,
    per_page: int = 25,
    count: bool = True,
) -> Page:
    """The requested page; ``count=False`` for feeds read with Newer / Older links
    that show no total."""
    number, moved = parse_page_number(page)
    number = min(number, MAX_OFFSET // per_page + 1)
    rows = _slice(qs, number, per_page)
    if not rows and number > 1:
        # Past the end: the rare case where counting is worth it. The list is
        # shorter than the requested offset, so the count stops there.
        offset = min((number - 1) * per_page, MAX_OFFSET)
        if isinstance(qs, QuerySet):
            total = qs[:offset].count()
        else:
            total = min(len(qs), offset)
        number = max(1, -(-total // per_page))
        rows = _slice(qs, number, per_page)
        moved = True
    has_next = len(rows) > per_page
    total: int | None = None
    estimate = False
    if count:
        if has_next:
            total, estimate = _total(qs)
        else:
            # The last page: every row before it was full.
            total = (number - 1) * per_page + len(rows)
    return Page(
        items=rows[:per_page],
        number=number,
        has_next=has_next,
        moved=moved,
        total=total,
        total_is_estimate=estimate,
        per_page=per_page,
    )
