"""Pagination that never counts the whole table.

A page is read with one query (one row more than the page, to know whether another
page follows). How many rows match is then told as cheaply as it can be:

- when the page is the last one, the total is known without asking;
- otherwise the rows are counted up to ``PAGINATION_COUNT_CAP`` (a count over a
  subquery with ``LIMIT cap + 1``), so a count never reads more than cap + 1 matches;
- past the cap the planner's estimate for the list query (``EXPLAIN``, which plans
  but reads no rows) is shown rounded, as "about N". The estimate is also what is
  shown when it is far above the cap, or when the planner prices even the capped
  count above ``PAGINATION_COUNT_MAX_COST`` (a selective filter without an index:
  counting its few thousand matches would read the whole table).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import connections
from django.db.models import QuerySet

from crm_site import fragments

# A page number is parsed from the query string: anything past this offset is
# "past the end" for every list we have, and keeps OFFSET inside bigint.
MAX_OFFSET = 10**9

# Counting 5,000 ids costs a few milliseconds; past that an exact figure is not
# worth a page view.
DEFAULT_COUNT_CAP = 5_000
# A count the planner prices above this (in its cost units; a sequential scan of
# 300,000 customers is about 11,000 and takes some 20 ms here) is not cheap: the
# estimate is shown instead. bench/pagination_bench.py shows what each list costs.
DEFAULT_COUNT_MAX_COST = 8_000.0
# An estimate this many times the cap is trusted without counting.
CLEARLY_ABOVE_CAP = 3
# How long a total is remembered when no row of its model changed (bulk updates send
# no signal; the count of rows joined from other tables may also move meanwhile).
COUNT_TIMEOUT = 60


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


# LIMIT and OFFSET are written into a page query's SQL, not passed as parameters.
_LIMIT_OFFSET = re.compile(r"\s+LIMIT\s+\d+(\s+OFFSET\s+\d+)?\s*$")


# rows low to high of a queryset -> (the rows, the SQL without LIMIT and OFFSET,
# its parameters): crm_site.compiled.SliceRead.rows with its values given.
Reader = Callable[[int, int], tuple[list, str, list]]


@dataclass(frozen=True)
class ToCount:
    """A list's queryset built only should its total be counted: with a Reader the
    page is read from SQL compiled once and the total is mostly cached, and building
    the queryset of a search cost ~0.7 ms a page (customers.selectors)."""

    model: type
    build: Callable[[], QuerySet]
    # Counted without asking the planner first: every row it counts is found on an
    # index and the count is bounded (a search's ranks, customers.selectors), where
    # the planner's estimate of a text's matches can be off by a hundred times.
    indexed: bool = False


@dataclass
class _Read:
    """A page as read, with the SQL that read it (without its LIMIT and OFFSET): the
    key of the list's cached total, so the total's key costs no second compilation
    of the query (about 1.5 ms on the customer list)."""

    rows: list
    sql_key: str | None = None


def _slice(
    qs: QuerySet | Sequence,
    number: int,
    per_page: int,
    *,
    keyed: bool = True,
    reader: Reader | None = None,
) -> _Read:
    """The page's rows (one more, to know whether a next page exists); ``keyed``:
    with the SQL that read them, for a total to come."""
    offset = (number - 1) * per_page
    if reader is not None:
        rows, sql, params = reader(offset, offset + per_page + 1)
        return _Read(rows, f"{sql}\x00{tuple(params)!r}")
    page = qs[offset : offset + per_page + 1]
    if not keyed or not isinstance(qs, QuerySet) or qs._result_cache is not None:
        return _Read(list(page))
    executed: list[str] = []

    def remember_first(execute, sql, params, many, context):
        if not executed:
            executed.append(f"{_LIMIT_OFFSET.sub('', sql)}\x00{params!r}")
        return execute(sql, params, many, context)

    # First in the chain, so it sees the SQL Django built even where a wrapper
    # further in runs it another way (crm_site.prepared's EXECUTE of a statement
    # whose name means nothing to another process).
    wrappers = connections[qs.db].execute_wrappers
    wrappers.insert(0, remember_first)
    try:
        rows = list(page)
    finally:
        wrappers.remove(remember_first)
    return _Read(rows, executed[0] if executed else None)


def round_estimate(estimate: int) -> int:
    """Two significant digits: 1,000,312 -> 1,000,000; 12,345 -> 12,000."""
    if estimate < 100:
        return estimate
    unit = 10 ** (int(math.log10(estimate)) - 1)
    return round(estimate / unit) * unit


@dataclass(frozen=True)
class Plan:
    """The planner's view of a list query: how many rows it expects, what reading them
    all would cost (in the planner's units)."""

    rows: int
    startup_cost: float
    total_cost: float

    def cost_of_first(self, limit: int) -> float:
        """What reading only the first ``limit`` rows costs: the planner's own
        arithmetic for a LIMIT node."""
        if self.rows <= limit:
            return self.total_cost
        fraction = limit / self.rows
        return self.startup_cost + (self.total_cost - self.startup_cost) * fraction


def query_plan(qs: QuerySet) -> Plan:
    """EXPLAIN of the list query: it plans, reads no rows."""
    sql, params = qs.order_by().query.sql_with_params()
    with connections[qs.db].cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    top = plan[0]["Plan"]
    return Plan(
        rows=int(top["Plan Rows"]),
        startup_cost=float(top["Startup Cost"]),
        total_cost=float(top["Total Cost"]),
    )


def planner_estimate(qs: QuerySet) -> int:
    return query_plan(qs).rows


def _total(
    qs: QuerySet | Sequence | ToCount, sql_key: str | None = None
) -> tuple[int, bool]:
    """(how many rows match, whether that is an estimate) for a list with more than
    one page.

    The planner is asked first (about a millisecond). Far above the cap its estimate
    is shown; otherwise the rows are counted up to the cap, unless even that count
    would be dear: a selective filter no index serves makes "count up to 10,000"
    read the whole table, and the estimate is shown instead.
    """
    if not isinstance(qs, QuerySet | ToCount):
        return len(qs), False
    if not fragments.is_tracked(qs.model):
        return _count(_built(qs))
    if sql_key is None:
        # The key is the SQL: a ToCount is built for it, once.
        qs = _built(qs)
        sql, params = qs.order_by().query.sql_with_params()
        sql_key = f"{sql}\x00{params!r}"

    def counted() -> tuple[int, bool]:
        return _count(_built(qs), indexed=isinstance(qs, ToCount) and qs.indexed)

    digest = hashlib.blake2b(sql_key.encode(), digest_size=12)
    return fragments.cached(
        f"count:{digest.hexdigest()}",
        counted,
        depends_on=[qs.model],
        timeout=COUNT_TIMEOUT,
        per_language=False,
    )


def _built(qs: QuerySet | ToCount) -> QuerySet:
    return qs.build() if isinstance(qs, ToCount) else qs


def _count(qs: QuerySet, *, indexed: bool = False) -> tuple[int, bool]:
    cap = count_cap()
    plan = None if indexed else query_plan(qs)
    if plan is not None and (
        plan.rows > cap * CLEARLY_ABOVE_CAP
        or plan.cost_of_first(cap + 1)
        > getattr(settings, "PAGINATION_COUNT_MAX_COST", DEFAULT_COUNT_MAX_COST)
    ):
        return round_estimate(plan.rows), True
    # Ordering does not change a count: dropping it lets the planner stop at the
    # first cap + 1 matches it finds in any order.
    counted = qs.order_by()[: cap + 1].count()
    if counted <= cap:
        return counted, False
    return round_estimate(max((plan or query_plan(qs)).rows, cap + 1)), True


def paginate(
    qs: QuerySet | Sequence | ToCount,
    *,
    page: str | int | None,
    per_page: int = 25,
    count: bool = True,
    reader: Reader | None = None,
) -> Page:
    """The requested page; ``count=False`` for feeds read with Newer / Older links
    that show no total. ``reader``: reads ``qs``'s slices from SQL compiled once
    (crm_site.compiled.SliceRead); ``qs`` is then compiled only to be counted, and
    may be a ToCount, built only then."""
    if isinstance(qs, ToCount) and reader is None:
        raise ValueError("a ToCount is read by a reader")
    number, moved = parse_page_number(page)
    number = min(number, MAX_OFFSET // per_page + 1)
    read = _slice(qs, number, per_page, keyed=count, reader=reader)
    if not read.rows and number > 1:
        # Past the end: the rare case where counting is worth it. The list is
        # shorter than the requested offset, so the count stops there.
        qs = _built(qs)
        offset = min((number - 1) * per_page, MAX_OFFSET)
        if isinstance(qs, QuerySet):
            total = qs[:offset].count()
        else:
            total = min(len(qs), offset)
        number = max(1, -(-total // per_page))
        read = _slice(qs, number, per_page, keyed=count, reader=reader)
        moved = True
    rows = read.rows
    has_next = len(rows) > per_page
    total: int | None = None
    estimate = False
    if count:
        if has_next:
            total, estimate = _total(qs, read.sql_key)
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
