"""Insight: the explorer's registry and the fact tables it reads.

The explorer (多维分析) answers questions the dashboards did not foresee: a measure
(a count, an amount, a duration, a satisfaction score), up to two dimensions and some
filters. It never reads the live tables: each app keeps **fact tables** — one narrow,
indexed row per deal, per service request, per day of interactions… — and registers
**sources** over them here, in its ``AppConfig.ready()``. ``crm_site`` imports no app.

How a fact table stays within minutes of the live data
------------------------------------------------------
A PostgreSQL trigger on each live table a fact depends on writes the fact's key into
``crm_site_factdirty`` in the same transaction as the change (``trigger_sql`` writes the
trigger for an app's migration). Triggers see every write — ``save()``, ``update()``,
bulk inserts, merges, raw SQL — so nothing is missed, and a rolled-back change leaves
no mark. Every minute ``refresh`` (Celery beat, ``crm_site.tasks.insight_refresh``)
claims a batch of keys (``DELETE … RETURNING`` over ``FOR UPDATE SKIP LOCKED``),
deletes their fact rows and inserts them again from the fact's SELECT, all in one
transaction: a crash rolls the claim back with the work, and running twice recomputes
the same rows. Keys are never de-duplicated on insert: a change committed while its key
is being refreshed leaves its own row for the next run, so it cannot be lost to a race.
``rebuild`` recomputes a whole table (``manage.py insight_rebuild``).

A fact table is described by ``FactTable``: its model (the rows the explorer reads), the
column that holds the key, and a SELECT producing the model's columns in order, with a
``{where}`` placeholder that ``refresh`` fills with ``<key_expr> = ANY(%(keys)s)`` and
``rebuild`` with ``TRUE``.

Drilling into a cell
--------------------
Every source names the real list that shows its rows (``list_url``) and the fact
column holding that list's primary key (``row_key``). ``drill_url`` signs the cell's
coordinates and filters into ``?drill=…``; the list view calls ``drill_apply`` on its
scoped queryset and shows ``drill.description`` above the rows. The list then holds
exactly the rows the cell counted: the same fact rows, intersected with what the user
may see.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import EmptyResultSet
from django.db import connection, connections, models, transaction
from django.db.models import (
    Avg,
    Count,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.lookups import Exact
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

logger = logging.getLogger(__name__)

# Keys one refresh transaction takes: a few seconds of work at most.
REFRESH_BATCH = 5000
# A refresh run stops claiming new batches after this long (it runs every minute).
REFRESH_SECONDS = 45
DRILL_SALT = "crm_site.insight.drill"


# --- Fact tables ---------------------------------------------------------------------


@dataclass(frozen=True)
class FactTable:
    """One fact table: ``model`` holds the rows, ``key_column`` the key that the
    triggers mark dirty, ``select_sql`` computes rows (``{where}`` restricts them to
    keys through ``key_expr``). SQL may use ``%(tz)s`` for the site's time zone. A fact
    whose SELECT is put together at run time overrides ``select`` and ``params``."""

    key: str
    model: type[models.Model]
    key_column: str
    key_expr: str
    select_sql: str
    label: Any = ""

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    def columns(self) -> list[str]:
        return [f.column for f in self.model._meta.concrete_fields]

    def select(self, *, keyed: bool) -> str:
        """The SELECT of the fact rows: of ``%(keys)s`` only, or of every key."""
        where = f"{self.key_expr} = ANY(%(keys)s)" if keyed else "TRUE"
        return self.select_sql.format(where=where)

    def params(self, keys: Sequence[int] | None) -> dict[str, Any]:
        """The SELECT's parameters; a fact whose SELECT needs more adds them."""
        params: dict[str, Any] = {"tz": settings.TIME_ZONE}
        if keys is not None:
            params["keys"] = list(keys)
        return params

    def _insert(self, keys: Sequence[int] | None) -> int:
        cols = ", ".join(connection.ops.quote_name(c) for c in self.columns())
        select = self.select(keyed=keys is not None)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {self.table} ({cols}) {select}", self.params(keys)
            )
            return cursor.rowcount

    def upsert(self, keys: Sequence[int]) -> int:
        """Recompute the rows of these keys (deleted where the live row is gone)."""
        if not keys:
            return 0
        keys = sorted(set(keys))
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {self.table} WHERE {self.key_column} = ANY(%(keys)s)",
                {"keys": keys},
            )
        return self._insert(keys)

    def rebuild_rows(self) -> int:
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {self.table}")
        return self._insert(None)


_FACTS: dict[str, FactTable] = {}


def register_fact(fact: FactTable) -> FactTable:
    _FACTS[fact.key] = fact
    return fact


def facts() -> list[FactTable]:
    return list(_FACTS.values())


def trigger_sql(
    *,
    name: str,
    table: str,
    fact: str,
    key: str = "{row}.id",
    keys_select: str | None = None,
    columns: Iterable[str] = (),
) -> tuple[str, str]:
    """(forward, reverse) SQL for a migration: after a row of ``table`` is inserted,
    changed or deleted, mark ``fact``'s keys dirty. ``key`` is an expression over
    ``{row}`` (NEW or OLD); ``keys_select`` a SELECT of several keys instead (a
    customer's deals). With ``columns``, an update marks only when one of them changed.
    """
    select = keys_select or f"SELECT {key}"
    insert = (
        "INSERT INTO crm_site_factdirty (fact, key) "
        "SELECT '{fact}', k FROM ({select}) AS s(k) WHERE k IS NOT NULL;"
    )
    old = insert.format(fact=fact, select=select.format(row="OLD"))
    new = insert.format(fact=fact, select=select.format(row="NEW"))
    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in columns)
    skip = (
        f"IF TG_OP = 'UPDATE' AND NOT ({changed}) THEN RETURN NULL; END IF;"
        if changed
        else ""
    )
    function = f"insight_dirty_{name}"
    forward = f"""
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  {skip}
  IF TG_OP <> 'INSERT' THEN {old} END IF;
  IF TG_OP <> 'DELETE' THEN {new} END IF;
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS {function} ON {table};
CREATE TRIGGER {function} AFTER INSERT OR UPDATE OR DELETE ON {table}
  FOR EACH ROW EXECUTE FUNCTION {function}();
"""
    reverse_sql = (
        f"DROP TRIGGER IF EXISTS {function} ON {table}; "
        f"DROP FUNCTION IF EXISTS {function}();"
    )
    return forward, reverse_sql


def _claim(fact: FactTable, limit: int) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM crm_site_factdirty WHERE id IN ("
            " SELECT id FROM crm_site_factdirty WHERE fact = %s"
            " ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING key",
            [fact.key, limit],
        )
        return [row[0] for row in cursor.fetchall()]


def _lock(fact: FactTable, *, wait: bool) -> bool:
    """A transaction lock per fact table: one refresh or rebuild of it at a time."""
    with connection.cursor() as cursor:
        fn = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
        cursor.execute(f"SELECT {fn}(hashtext(%s))", ["insight:" + fact.key])
        return wait or bool(cursor.fetchone()[0])


def _mark(fact: FactTable, *, rebuilt: bool = False) -> None:
    from crm_site.models import FactState

    now = timezone.now()
    values: dict[str, Any] = {"refreshed_at": now}
    if rebuilt:
        values["rebuilt_at"] = now
    FactState.objects.update_or_create(fact=fact.key, defaults=values)


def refresh_fact(fact: FactTable, *, batch: int = REFRESH_BATCH) -> int | None:
    """Refresh one batch of dirty keys; None when another refresh holds the table."""
    with transaction.atomic():
        if not _lock(fact, wait=False):
            return None
        keys = _claim(fact, batch)
        if keys:
            fact.upsert(keys)
        _mark(fact)
        return len(keys)


def refresh(*, only: Iterable[str] | None = None, seconds: float = REFRESH_SECONDS):
    """Bring every fact table up to date; returns {fact: keys refreshed}."""
    from crm_site.models import FactState

    done: dict[str, int] = {}
    deadline = time.monotonic() + seconds
    built = set(
        FactState.objects.filter(rebuilt_at__isnull=False).values_list(
            "fact", flat=True
        )
    )
    for fact in facts():
        if only is not None and fact.key not in only:
            continue
        if fact.key not in built:
            # A table never filled (new, or after an upgrade) starts whole.
            done[fact.key] = rebuild(only=[fact.key])[fact.key]
            continue
        done[fact.key] = 0
        while True:
            n = refresh_fact(fact)
            if n is None:
                break
            done[fact.key] += n
            if n < REFRESH_BATCH or time.monotonic() > deadline:
                break
    return done


def rebuild(*, only: Iterable[str] | None = None) -> dict[str, int]:
    """Recompute whole fact tables, each in one transaction."""
    done: dict[str, int] = {}
    for fact in facts():
        if only is not None and fact.key not in only:
            continue
        with transaction.atomic():
            _lock(fact, wait=True)
            # The dirty keys seen now are covered by the rebuild's later snapshot.
            with connection.cursor() as cursor:
                cursor.execute(
                    "DELETE FROM crm_site_factdirty WHERE fact = %s", [fact.key]
                )
            done[fact.key] = fact.rebuild_rows()
            _mark(fact, rebuilt=True)
    return done


def refreshed_at(keys: Iterable[str]) -> Any:
    """The oldest refresh among these fact tables (what the page says it shows)."""
    from crm_site.models import FactState

    return (
        FactState.objects.filter(fact__in=list(keys))
        .order_by("refreshed_at")
        .values_list("refreshed_at", flat=True)
        .first()
    )


# --- The explorer's sources ------------------------------------------------------------


class Kind:
    COUNT = "count"
    MONEY = "money"
    DURATION = "duration"  # days, with decimals
    HOURS = "hours"
    SCORE = "score"
    NUMBER = "number"


@dataclass(frozen=True)
class Measure:
    """What a cell holds: ``count`` of rows, the ``sum``/``avg`` of a fact column, or
    the number of ``distinct`` values of a fact column — for a fact with several rows
    per thing the drill-down lists once (a deal's stays in its stages: the deal list
    shows the deal once), so that a cell and every total count what the list shows.

    A DISTINCT over every row is slow (it sorts them), so a distinct measure says when
    the pivot can count rows instead, in the same scan as the cells:

    - ``unique_with``: the dimension that, with ``field``, identifies a row; a cell or
      total that fixes it (a dimension of the group, or a filter on one value) holds
      one row per value, and COUNT(*) is exact;
    - ``first``: a boolean fact column true on exactly one row per value, and
      ``varies``: the dimensions whose value can differ between those rows; a cell or
      total that narrows none of them holds all the rows of its values, and the number
      of its ``first`` rows is exact (``first_per``: the same for a group that fixes
      some of ``varies`` and narrows no other, a month split, a month × bucket split;
      ``runs`` and ``masks``: the same for a filter on several consecutive months,
      on several stages or buckets).

    Any other cell or total is counted by COUNT(DISTINCT) in one more statement."""

    key: str
    label: Any
    aggregate: str = "count"
    field: str | None = None
    kind: str = Kind.COUNT
    decimals: int = 0
    unique_with: str | None = None
    first: str | None = None
    varies: tuple[str, ...] = ()
    # (dimensions, column): a boolean column true on one row per value and values of
    # those dimensions; a group that fixes them all and narrows no other of
    # ``varies`` counts its true rows.
    first_per: tuple[tuple[tuple[str, ...], str], ...] = ()
    # (column, month dimension, previous): ``column`` is a ``first_per`` column over
    # that month dimension (and maybe others), ``previous`` a fact column holding, on
    # each row, the latest earlier month in which the value has rows (with the same
    # values of the column's other dimensions). A group that filters the month by a
    # run of consecutive months, without splitting by it, and fixes the column's
    # other dimensions counts the ``column`` rows of the run whose ``previous`` is
    # before it: each value's first month in the run, once.
    runs: tuple[tuple[str, str, str], ...] = ()
    # (dimensions, dimension, mask, values): ``mask`` a fact column holding, on each
    # row, a bit for each of ``values`` (in that order) that ``dimension`` takes on
    # the value's rows before this one (among those with the same values of
    # ``dimensions``), in the order of ``values``. A group that filters the dimension
    # by several of ``values``, without splitting by it, and fixes ``dimensions``
    # counts the rows whose mask meets none of the filter's: each value's first row.
    masks: tuple[tuple[tuple[str, ...], str, str, tuple[str, ...]], ...] = ()

    @property
    def counts(self) -> bool:
        """Whether the measure is a number of rows or things (not an amount)."""
        return self.aggregate in ("count", "distinct")

    def expression(self):
        if self.aggregate == "count":
            return Count("pk")
        if self.aggregate == "distinct":
            return Count(self.field, distinct=True)
        if self.aggregate == "sum":
            return Sum(self.field)
        if self.aggregate == "avg":
            return Avg(self.field)
        raise ValueError(self.aggregate)


def names_of(model: type[models.Model], attr: str = "name"):
    """Labels for the ids of a model: one query for all the values of a dimension."""

    def label(values: list) -> dict:
        return {
            obj.pk: str(getattr(obj, attr))
            for obj in model.objects.filter(pk__in=values)
        }

    return label


def user_names(values: list) -> dict:
    """Staff by their display names (family name first), one query."""
    from crm_site.models import User

    return {u.pk: u.display_name for u in User.objects.filter(pk__in=values)}


def choice_labels(choices) -> Callable[[list], dict]:
    """Labels of a choice column that is not the fact's own (a customer's channel)."""
    names = {k: str(v) for k, v in choices}
    return lambda values: {v: names.get(v, v) for v in values}


@dataclass(frozen=True)
class Dimension:
    """A way to split or filter rows: a fact column. Labels come from the column's
    choices, or from ``labels`` (values → names, one query for all of them), or the
    value itself; ``month`` columns hold the first day of a month."""

    key: str
    label: Any
    field: str
    labels: Callable[[list[Any]], dict[Any, str]] | None = None
    month: bool = False

    def label_map(self, model: type[models.Model], values: list[Any]) -> dict:
        present = [v for v in values if v is not None and v != ""]
        if self.labels is not None:
            names = dict(self.labels(present)) if present else {}
        else:
            choices = model._meta.get_field(self.field).flatchoices
            names = {k: str(v) for k, v in choices} if choices else {}
        out: dict[Any, str] = {}
        for value in values:
            if value is None or value == "":
                out[value] = str(_("(none)"))
            elif self.month and isinstance(value, date):
                out[value] = value.strftime("%Y-%m")
            else:
                out[value] = str(names.get(value, value))
        return out


@dataclass(frozen=True)
class Source:
    """What the explorer can count: rows of one fact model, for users with ``see``."""

    key: str
    label: Any
    model: type[models.Model]
    measures: tuple[Measure, ...]
    dimensions: tuple[Dimension, ...]
    see: str
    # Q on the fact model: the rows this user may count (same as their list's scope).
    scope: Callable[[Any], Q]
    # The real list that shows the rows behind a cell, and the fact column holding
    # that list's primary key.
    list_url: str
    row_key: str
    facts: tuple[str, ...] = ()
    order: int = 50
    # For a source whose fact rows are aggregates (a day of interactions), the drill
    # cannot list fact rows: ``live(filters)`` gives the Q on the list's own model that
    # selects the rows the cell summed. None: the list shows pk IN (fact rows' row_key).
    live: Callable[[dict[str, Any]], Q] | None = None
    # What a report of a week or a month covers (crm_site.reports): ``period`` is the
    # fact column giving a row's day (a DateField, or a DateTimeField read in the
    # site's time zone), ``period_month`` the dimension holding that day's month. A
    # fact kept by month has no ``period`` and can be reported by whole months only.
    # Neither: the rows are a snapshot (values as they are now).
    period: str | None = None
    period_month: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def by_day(self) -> bool:
        return self.period is not None

    @property
    def snapshot(self) -> bool:
        return self.period is None and self.period_month is None

    def within(self, start: date, end: date) -> Q:
        """The fact rows of the days ``start`` to ``end`` (whole months for a fact
        kept by month: ValueError for a part of a month)."""
        if self.period is not None:
            column = self.model._meta.get_field(self.period)
            by_date = isinstance(column, models.DateTimeField)
            lookup = "__date__range" if by_date else "__range"
            return Q(**{f"{self.period}{lookup}": (start, end)})
        if self.period_month is not None:
            following = end + timedelta(days=1)
            if start.day != 1 or following.day != 1:
                raise ValueError("a fact kept by month reports whole months only")
            dim = self.dimension(self.period_month)
            return Q(**{f"{dim.field}__gte": start, f"{dim.field}__lt": following})
        return Q()

    def measure(self, key: str) -> Measure | None:
        return next((m for m in self.measures if m.key == key), None)

    def dimension(self, key: str) -> Dimension | None:
        return next((d for d in self.dimensions if d.key == key), None)

    def named(self, user, dim: Dimension, values: list[Any]) -> list[Any]:
        """The ``values`` of ``dim`` that may be shown by their names to ``user``.
        A dimension whose labels are names read elsewhere (people, teams,
        campaigns, buildings) names only the values the user's rows hold: an id
        typed into an address, or signed into a drill, would otherwise show whose
        it is; the caller shows the others by their code. One query for such a
        dimension, none for the others ("None", the empty value, names no one)."""
        if dim.labels is None or not values:
            return list(values)
        given = [v for v in values if v is not None and v != ""]
        held = (
            list(
                self.rows_for(user)
                .filter(**{f"{dim.field}__in": given})
                .order_by()
                .values_list(dim.field, flat=True)
                .distinct()
            )
            if given
            else []
        )
        return [v for v in values if v is None or v == ""] + held

    def rows_for(self, user, filters: dict[str, Any] | None = None) -> QuerySet:
        """The fact rows this user may count, narrowed by {dimension: value}."""
        return self.model.objects.filter(self.scope(user)).filter(
            self.lookups(filters or {})
        )

    def lookups(self, filters: dict[str, Any]) -> Q:
        q = Q()
        for key, value in filters.items():
            dim = self.dimension(key)
            if dim is None:
                raise KeyError(key)
            values = list(value) if isinstance(value, list | tuple) else [value]
            given = [v for v in values if v is not None and v != ""]
            part = Q(**{f"{dim.field}__in": given}) if given else Q(pk__in=[])
            if len(given) < len(values):
                part |= self._empty(dim.field)
            q &= part
        return q

    def _empty(self, name: str) -> Q:
        """No value: NULL, and the empty string in a text column."""
        empty = Q(**{f"{name}__isnull": True})
        if isinstance(self.model._meta.get_field(name), models.CharField):
            empty |= Q(**{name: ""})
        return empty


_SOURCES: dict[str, Source] = {}


def register(source: Source) -> Source:
    _SOURCES[source.key] = source
    return source


def sources() -> list[Source]:
    return sorted(_SOURCES.values(), key=lambda s: (s.order, s.key))


def source_named(key: str) -> Source | None:
    return _SOURCES.get(key)


def sources_for(user) -> list[Source]:
    return [s for s in sources() if user.has_perm(s.see)]


# --- Drilling into a cell --------------------------------------------------------------


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def drill_token(source: Source, filters: dict[str, Any]) -> str:
    data = {
        "s": source.key,
        "f": {
            k: [_plain(x) for x in v] if isinstance(v, list | tuple) else _plain(v)
            for k, v in filters.items()
        },
    }
    return signing.dumps(data, salt=DRILL_SALT, compress=True)


def drill_url(source: Source, filters: dict[str, Any]) -> str:
    return f"{reverse(source.list_url)}?drill={drill_token(source, filters)}"


@dataclass(frozen=True)
class Drill:
    source: Source
    filters: dict[str, Any]
    # [(dimension label, value label)] for the banner above the list.
    description: list[tuple[str, str]]
    token: str


def drill_read(token: str | None) -> tuple[Source, dict[str, Any]] | None:
    if not token:
        return None
    try:
        data = signing.loads(token, salt=DRILL_SALT)
    except signing.BadSignature:
        return None
    source = source_named(data.get("s", ""))
    if source is None:
        return None
    filters = data.get("f") or {}
    if any(source.dimension(k) is None for k in filters):
        return None
    return source, filters


def _describe(dim: Dimension, values: list[Any], names: dict[Any, str]) -> str:
    """The chosen values for the banner: a run of consecutive months as a range
    (2026-01 – 2026-06), anything else one by one."""
    months = sorted(v for v in values if isinstance(v, date))
    if dim.month and len(months) == len(values) > 2:
        steps = {
            (b.year - a.year) * 12 + b.month - a.month for a, b in pairwise(months)
        }
        if steps == {1}:
            return f"{names[months[0]]} – {names[months[-1]]}"
    return "、".join(names[v] for v in values)


def drill_apply(
    request, qs: QuerySet, *, list_url: str | None = None
) -> tuple[QuerySet, Drill | None]:
    """Narrow a list's scoped queryset to the rows behind an explorer cell
    (``?drill=``); a token for another list or a forged one is ignored. ``list_url``
    names the list whose rows ``qs`` holds when the request is not that list's own
    page (its export); by default, the page requested."""
    token = request.GET.get("drill")
    found = drill_read(token)
    if found is None:
        return qs, None
    source, filters = found
    if list_url is not None:
        if source.list_url != list_url:
            return qs, None
    elif reverse(source.list_url) != request.path:
        return qs, None
    if source.live is not None:
        narrowed = qs.filter(source.live(filters))
    else:
        rows = source.rows_for(request.user, filters).values(source.row_key)
        narrowed = qs.filter(pk__in=rows)
    description = []
    for key, value in filters.items():
        dim = source.dimension(key)
        values = value if isinstance(value, list) else [value]
        parsed = [
            date.fromisoformat(v) if dim.month and isinstance(v, str) else v
            for v in values
        ]
        # Only what the user's rows hold is named (Source.named): a token signed
        # for a filter on any id names no one outside the user's scope.
        named = source.named(request.user, dim, parsed)
        names = dim.label_map(source.model, named) if named else {}
        names = {v: names.get(v, str(v)) for v in parsed}
        description.append((str(dim.label), _describe(dim, parsed, names)))
    drill = Drill(source, filters, description, token or "")
    return narrowed, drill


# --- The pivot --------------------------------------------------------------------------


@dataclass
class Pivot:
    """A measure split by one or two dimensions. ``rows``/``columns`` are
    [(value, label)], ``cells`` maps (row value, column value) to the measure; with one
    dimension the only column value is None. Totals are computed by the database (an
    average of averages would be wrong), over every row, not only those shown."""

    source: Source
    measure: Measure
    dimensions: list[Dimension]
    filters: dict[str, Any]
    rows: list[tuple[Any, str]]
    columns: list[tuple[Any, str]]
    cells: dict[tuple[Any, Any], Any]
    row_totals: dict[Any, Any]
    column_totals: dict[Any, Any]
    total: Any
    # More row or column values than shown (the largest by the measure are kept).
    truncated: bool = False

    def cell_filters(self, row: Any, column: Any = None) -> dict[str, Any]:
        """The filters that select exactly one cell's rows (for its drill-down)."""
        out = dict(self.filters)
        if self.dimensions:
            out[self.dimensions[0].key] = _plain(row)
        if len(self.dimensions) > 1:
            out[self.dimensions[1].key] = _plain(column)
        return out


def _ordered(dim: Dimension, values: list[Any], by: dict[Any, Any], limit: int):
    """Months and choices keep their order; anything else goes largest first."""
    if dim.month:
        keep = sorted(values, key=lambda v: (v is None, v))
    else:
        keep = sorted(values, key=lambda v: (by.get(v) is None, -(by.get(v) or 0)))
    return keep[:limit], len(keep) > limit


def _grouped(
    rows_qs: QuerySet,
    measure: Measure,
    dims: list[Dimension],
    filters: dict[str, Any],
    by_day: bool = False,
):
    """Cells, row totals, column totals and the grand total from one GROUP BY over
    the fact rows: each cell comes back as (sum, count), and the totals are added up
    from the cells — exact for counts, sums and averages alike (an average's total is
    its sums over its counts, never an average of averages). PostgreSQL can run that
    one GROUP BY in parallel; four separate ones read 300,000 deal rows four times,
    and GROUPING SETS cannot be parallel. Values come back as the ORM would give
    them (an average of an integer column is a float, a count an int)."""
    if measure.aggregate == "distinct":
        return _grouped_distinct(rows_qs, measure, dims, filters, by_day)
    columns = {f"d{i}": F(dim.field) for i, dim in enumerate(dims)}
    columns["m"] = F(measure.field) if measure.field else Value(1)
    value = _finisher(rows_qs.model, measure)
    try:
        sql, params = rows_qs.order_by().values(**columns).query.sql_with_params()
    except EmptyResultSet:  # a scope that sees nothing
        return {}, {}, {}, value(0, 0)
    names = [f"d{i}" for i in range(len(dims))]
    aggregates = (
        "COUNT(*), COUNT(*)" if measure.aggregate == "count" else "SUM(m), COUNT(m)"
    )
    query = f"SELECT {', '.join([*names, aggregates])} FROM ({sql}) AS f"
    if names:
        query += f" GROUP BY {', '.join(names)}"
    cells: dict[tuple[Any, Any], list] = {}
    rows: dict[Any, list] = {}
    cols: dict[Any, list] = {}
    total = [0, 0]
    with connections[rows_qs.db].cursor() as cursor:
        cursor.execute(query, params)
        for *keys, amount, count in cursor.fetchall():
            row = keys[0] if dims else None
            col = keys[1] if len(dims) == 2 else None
            for acc in (
                cells.setdefault((row, col), [0, 0]),
                rows.setdefault(row, [0, 0]),
                cols.setdefault(col, [0, 0]),
                total,
            ):
                acc[0] += amount or 0
                acc[1] += count
    return (
        {k: value(*v) for k, v in cells.items()} if dims else {},
        {k: value(*v) for k, v in rows.items()} if dims else {},
        {k: value(*v) for k, v in cols.items()} if len(dims) == 2 else {},
        value(*total),
    )


@dataclass(frozen=True)
class Flag:
    """Rows a distinct measure counts as values: those where ``column`` is true and,
    with ``previous``, whose previous month is before ``start`` (Measure.runs); with
    ``mask``, those whose mask has none of ``bits`` (Measure.masks)."""

    column: str | None
    previous: str | None = None
    start: date | None = None
    mask: str | None = None
    bits: int = 0

    def expression(self):
        rows = Q(**{self.column: True}) if self.column is not None else Q()
        if self.previous is not None:
            rows &= Q(**{f"{self.previous}__isnull": True}) | Q(
                **{f"{self.previous}__lt": self.start}
            )
        if self.mask is not None:
            rows &= Q(Exact(F(self.mask).bitand(self.bits), 0))
        return ExpressionWrapper(rows, output_field=models.BooleanField())


def _run_start(values: Any) -> date | None:
    """The first month of ``values`` when they are two or more consecutive months
    (first days of months, as the explorer's month filter gives them), else None."""
    if not isinstance(values, list | tuple) or len(values) < 2:
        return None
    if not all(isinstance(v, date) and v.day == 1 for v in values):
        return None
    months = sorted(set(values))
    if len(months) != len(values):
        return None
    if any(_next_month(a) != b for a, b in pairwise(months)):
        return None
    return months[0]


def _bits(values: Any, order: Sequence[str]) -> int:
    """The mask of ``values`` (several, each one of ``order``) by their places in
    ``order``, else 0."""
    if not isinstance(values, list | tuple) or len(values) < 2:
        return 0
    if not all(isinstance(v, str) and v in order for v in values):
        return 0
    return sum(1 << i for i, v in enumerate(order) if v in values)


def _count_how(
    measure: Measure, keys: Sequence[str], filters: dict, by_day: bool = False
) -> str | Flag:
    """How a distinct measure counts a group of rows split by ``keys`` (dimension
    keys) under ``filters``: "rows" (COUNT(*)), the ``Flag`` of the rows to count,
    or "distinct" (see ``Measure``). ``by_day``: the rows are also narrowed by day (a
    report's week), which no flag follows."""
    one = {
        k for k, v in filters.items() if not isinstance(v, list | tuple) or len(v) == 1
    }
    if measure.unique_with is not None and measure.unique_with in {*keys, *one}:
        return "rows"
    narrowed = _narrowed(measure, keys, filters)
    if measure.first is not None and not narrowed:
        return Flag(measure.first)
    for dims, column in measure.first_per:
        if narrowed == set(dims) and set(dims) <= {*keys, *one}:
            return Flag(column)
    if by_day:
        return "distinct"
    for dims, dim, mask, values in measure.masks:
        bits = _bits(filters.get(dim), values)
        if (
            bits
            and dim not in keys
            and narrowed == {*dims, dim}
            and set(dims) <= {*keys, *one}
        ):
            return Flag(None, mask=mask, bits=bits)
    for column, month, previous in measure.runs:
        dims = next(d for d, c in measure.first_per if c == column)
        start = _run_start(filters.get(month))
        if (
            start is not None
            and month not in keys
            and narrowed == set(dims)
            and set(dims) - {month} <= {*keys, *one}
        ):
            return Flag(column, previous, start)
    return "distinct"


def _narrowed(measure: Measure, keys: Sequence[str], filters: dict) -> set[str]:
    """The dimensions among ``measure.varies`` that a group split by ``keys`` under
    ``filters`` splits or filters by."""
    return {*keys, *filters} & set(measure.varies)


def _distinct_rows(
    measure: Measure, groups: list[list[str]], filters: dict, by_day: bool
) -> str | None:
    """A ``first_per`` column whose true rows suffice to COUNT(DISTINCT) the groups
    (lists of dimension keys) under ``filters``, or None.

    Its dimensions must include every varying one the groups split or filter by:
    then each value keeps, in each group, a row with the same values of all of them
    (several months filtered: one row per deal and month instead of one per stage).
    Not when the rows are also narrowed by day (``by_day``: a report's week), which
    no column follows."""
    if by_day:
        return None
    narrowed = set().union(*(_narrowed(measure, keys, filters) for keys in groups))
    for dims, column in measure.first_per:
        if narrowed <= set(dims):
            return column
    return None


def _grouped_distinct(
    rows_qs: QuerySet,
    measure: Measure,
    dims: list[Dimension],
    filters: dict[str, Any],
    by_day: bool = False,
):
    """``_grouped`` for a distinct measure. Cells and totals that can be counted as
    rows or as ``first`` rows come from one GROUP BY over the fact rows, like any
    other measure; those that cannot come from one COUNT(DISTINCT) over GROUPING SETS
    of just those groups. Totals are never added up from cells: a deal in two cells
    of a row is one deal of the row."""
    names = [f"d{i}" for i in range(len(dims))]
    # The groups of the table, by their dimensions' SQL names.
    levels: list[tuple[str, list[str]]] = [("total", [])]
    if dims:
        levels.append(("cells", names))
    if len(dims) == 2:
        levels += [("rows", names[:1]), ("columns", names[1:])]
    # Each level's dimensions, by key.
    split_by = {level: [dims[int(n[1:])].key for n in cols] for level, cols in levels}
    how = {
        level: _count_how(measure, split_by[level], filters, by_day)
        for level, _ in levels
    }
    distinct = [(level, cols) for level, cols in levels if how[level] == "distinct"]
    flags = list(dict.fromkeys(h for h in how.values() if isinstance(h, Flag)))
    columns: dict[str, Any] = {n: F(d.field) for n, d in zip(names, dims, strict=True)}
    columns["m_key"] = F(measure.field)
    for i, flag in enumerate(flags):
        columns[f"m_first{i}"] = flag.expression()
    restrict = _distinct_rows(
        measure, [split_by[level] for level, _ in distinct], filters, by_day
    )
    if restrict is not None:
        columns["m_restrict"] = F(restrict)
    try:
        sql, params = rows_qs.order_by().values(**columns).query.sql_with_params()
    except EmptyResultSet:  # a scope that sees nothing
        return {}, {}, {}, 0
    found: dict[str, dict[tuple, int]] = {level: {} for level, _ in levels}
    db = connections[rows_qs.db]
    if any(h != "distinct" for h in how.values()):
        counts = ["COUNT(*)"] + [
            f"SUM(CASE WHEN m_first{i} THEN 1 ELSE 0 END)" for i in range(len(flags))
        ]
        query = f"SELECT {', '.join([*names, *counts])} FROM ({sql}) AS f"
        if names:
            query += f" GROUP BY {', '.join(names)}"
        with db.cursor() as cursor:
            cursor.execute(query, params)
            for row in cursor.fetchall():
                keys, figures = row[: len(names)], row[len(names) :]
                for level, cols in levels:
                    if how[level] == "distinct":
                        continue
                    key = tuple(keys[: len(cols)] if level != "columns" else keys[1:])
                    place = 0 if how[level] == "rows" else 1 + flags.index(how[level])
                    acc = found[level]
                    acc[key] = acc.get(key, 0) + (figures[place] or 0)
    if distinct:
        # Only the dimensions some set splits by may be selected and passed to
        # GROUPING(), which has a bit per one, set when a group does not split by it.
        used = [n for n in names if any(n in cols for _, cols in distinct)]
        sets = ", ".join(f"({', '.join(cols)})" for _, cols in distinct)
        grouping = f"GROUPING({', '.join(used)})" if used else "0"
        query = (
            f"SELECT {', '.join([*used, grouping, 'COUNT(DISTINCT m_key)'])}"
            f" FROM ({sql}) AS f"
        )
        if restrict is not None:
            query += " WHERE m_restrict"
        if used:
            query += f" GROUP BY GROUPING SETS ({sets})"
        mask = {
            level: sum(
                1 << (len(used) - 1 - i) for i, n in enumerate(used) if n not in cols
            )
            for level, cols in distinct
        }
        by_mask = {m: level for level, m in mask.items()}
        # The statement reads a large share of the rows (several values of a varying
        # dimension are ticked): PostgreSQL would walk a whole index in group order
        # to spare the sort and read the table at random (a split by team over all
        # teams: 605 ms, 297 ms by a sequential scan), for this statement only (a
        # failed statement's rollback undoes the SET LOCAL too).
        with transaction.atomic(using=db.alias), db.cursor() as cursor:
            cursor.execute("SET LOCAL enable_indexscan = off")
            cursor.execute(query, params)
            found_rows = cursor.fetchall()
            cursor.execute("SET LOCAL enable_indexscan TO DEFAULT")
            for *keys, bits, count in found_rows:
                level = by_mask[bits]
                cols = dict(levels)[level]
                kept = [k for n, k in zip(used, keys, strict=True) if n in cols]
                found[level][tuple(kept)] = count
    cells = {}
    for key, count in found.get("cells", {}).items():
        cells[(key[0], key[1] if len(dims) == 2 else None)] = count
    row_totals = (
        {k[0]: v for k, v in found["rows"].items()}
        if len(dims) == 2
        else {row: v for (row, _), v in cells.items()}
    )
    column_totals = (
        {k[0]: v for k, v in found["columns"].items()} if len(dims) == 2 else {}
    )
    # Every cell is in one row and one column, so each present value has a total.
    return cells, row_totals, column_totals, found["total"].get((), 0)


def _finisher(model: type[models.Model], measure: Measure) -> Callable[..., Any]:
    """(sum, count) → the measure, typed as Django's Count/Sum/Avg would give it."""
    if measure.aggregate == "count":
        return lambda amount, count: count
    decimal = isinstance(model._meta.get_field(measure.field), models.DecimalField)
    if measure.aggregate == "avg":
        if decimal:
            return lambda amount, count: Decimal(amount) / count if count else None
        return lambda amount, count: float(amount) / count if count else None
    if decimal:
        return lambda amount, count: Decimal(amount) if count else None
    if isinstance(model._meta.get_field(measure.field), models.FloatField):
        return lambda amount, count: float(amount) if count else None
    return lambda amount, count: int(amount) if count else None


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def pivot(
    user,
    source: Source,
    measure: Measure,
    dimensions: Sequence[Dimension] = (),
    filters: dict[str, Any] | None = None,
    *,
    limit: int = 60,
    period: tuple[date, date] | None = None,
) -> Pivot:
    """The measure by up to two dimensions over the user's rows, narrowed by
    ``filters`` and, for a report, to the rows of ``period`` (``Source.within``)."""
    filters = dict(filters or {})
    rows_qs = source.rows_for(user, filters)
    # What narrows the rows, as a distinct measure needs to know (_count_how): a
    # period of one whole month fixes its month; a week narrows the month without
    # fixing it (a deal may have stays before it in the same month).
    narrowing = dict(filters)
    by_day = False
    if period is not None:
        rows_qs = rows_qs.filter(source.within(*period))
        start, end = period
        whole = start.day == 1 and (end + timedelta(days=1)) == _next_month(start)
        # Narrowed by day unless the period is a whole month of the month dimension.
        by_day = not (whole and source.period_month is not None)
        if source.period_month is not None:
            narrowing[source.period_month] = [start] if whole else [start, end]
    dims = list(dimensions)[:2]
    cells, row_totals, column_totals, total = _grouped(
        rows_qs, measure, dims, narrowing, by_day
    )
    truncated = False
    row_values: list[Any] = []
    column_values: list[Any] = [None]
    if dims:
        row_values, cut = _ordered(dims[0], list(row_totals), row_totals, limit)
        truncated |= cut
    if len(dims) == 2:
        column_values, cut = _ordered(dims[1], list(column_totals), column_totals, 20)
        truncated |= cut
    row_labels = dims[0].label_map(source.model, row_values) if dims else {}
    column_labels = (
        dims[1].label_map(source.model, column_values) if len(dims) == 2 else {}
    )
    return Pivot(
        source=source,
        measure=measure,
        dimensions=dims,
        filters=filters,
        rows=[(v, row_labels[v]) for v in row_values],
        columns=[(v, column_labels.get(v, "")) for v in column_values],
        cells=cells,
        row_totals=row_totals,
        column_totals=column_totals,
        total=total,
        truncated=truncated,
    )
