"""Prepared statements: the busiest pages' queries planned once per connection.

PostgreSQL plans every statement it is sent. For the customer page's one query (the
customer, four related rows, its tags and whether the user may change it, under the
user's scope) planning costs 0.7 ms and running it 0.2 ms, on every page view.
A statement prepared once on a connection (``PREPARE``) and then run with
``EXECUTE name (params)`` skips the parse and, once PostgreSQL settles on its generic
plan (after five runs, when that plan is no dearer), the planning too.

Three ways in:

- ``prepared_statements`` (a view decorator): the SELECTs the view runs on the
  default database go through statements prepared on the thread's connection, keyed by
  their SQL and their parameters' types. Django builds the SQL as it always does; the
  ORM reads the rows from the same cursor. For pages that find their rows by key (a
  customer, a deal, a request), whose plan does not depend on the values: a search
  whose best plan depends on the text is better planned each time.
- ``prepared_queries`` (a context manager): the same for a part of a view. The
  customer list reads its first page prepared when it is the plain list, a whole
  number, a search narrowed to ids or a name of two characters or more
  (customers.selectors.customer_list_page), whose plans are the same whatever the
  values; a search for one character and the filters are planned each time. With
  ``generic=True`` the statements run on their generic plan from the first EXECUTE
  (``plan_cache_mode``): for the name search, whose generic plan PostgreSQL costs
  dearer than a text's own and would otherwise never settle on.
- ``ensure_statement``: a hand-written ``PREPARE`` (sales.opening_lane's lookup).

What is not prepared runs as before: a statement without parameters, a server-side
cursor's (``QuerySet.iterator()``), a parameter whose type is not one of the plain
ones below (JSON, a NULL, an empty list), and SQL PostgreSQL refuses to prepare (it is remembered and not tried again). Inside a
transaction the ``PREPARE`` is wrapped in a savepoint, so a refusal cannot break it.
``PREPARE`` runs on the driver's cursor, outside Django's query log: query counts are
those of the page, and the log shows each query as ``EXECUTE anju_qN (params)``.

A connection holds at most ``MAX_STATEMENTS`` of them; they go with it (connections
live ``DJANGO_CONN_MAX_AGE`` seconds). When an EXECUTE finds its statement stale (a
migration changed a column it returns while the connection lived, or the statements
were deallocated), the connection's statements are dropped and prepared again; outside
a transaction the query is run plainly at once. ``DATABASE_PREPARED_STATEMENTS=false`` turns
the decorator off: behind a pooler in transaction mode (pgbouncer), statements
prepared on one server connection are not there on the next.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import itertools
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import psycopg2
import psycopg2.errors
from django.conf import settings
from django.db import DatabaseError, connections
from django.db.backends.base.base import BaseDatabaseWrapper

MAX_STATEMENTS = 128
# SQL PostgreSQL would not prepare, not tried again (kept small: it is a safety net).
_REFUSED_MAX = 512
_refused: set[tuple[str, tuple[str, ...]]] = set()
_names = itertools.count(1)
_PLACEHOLDER = re.compile(r"%([s%])")
# What EXECUTE raises when the server's statement is not the one registered:
# "cached plan must not change result type", "prepared statement ... does not exist".
_STALE = (psycopg2.errors.FeatureNotSupported, psycopg2.errors.InvalidSqlStatementName)


def _pg_type(value: Any) -> str | None:
    """The parameter's PostgreSQL type in PREPARE, None when it has no plain one."""
    kind = type(value)
    if kind is bool:
        return "boolean"
    if kind is int:
        return "bigint"
    if kind is str:
        return "text"
    if kind is datetime.datetime:
        return "timestamptz" if value.tzinfo is not None else "timestamp"
    if kind is datetime.date:
        return "date"
    if kind is Decimal:
        return "numeric"
    if kind is float:
        return "double precision"
    if kind is list and value:
        if all(type(item) is int for item in value):
            return "bigint[]"
        if all(type(item) is str for item in value):
            return "text[]"
    return None


def _numbered(sql: str) -> str:
    """Django's %s placeholders as $1, $2, ... and %% as %, as the driver would."""
    numbers = itertools.count(1)
    return _PLACEHOLDER.sub(
        lambda match: "%" if match.group(1) == "%" else f"${next(numbers)}", sql
    )


def _statements(db: BaseDatabaseWrapper) -> dict:
    """The statements prepared on ``db``'s current connection (a new connection,
    after a reconnect, has none). A connection belongs to one thread at a time."""
    raw = db.connection
    state = getattr(db, "_anju_prepared", None)
    if state is None or state[0] is not raw:
        state = (raw, {})
        db._anju_prepared = state
    return state[1]


def _prepare(db: BaseDatabaseWrapper, cursor, sql: str) -> bool:
    """Run a PREPARE on the driver's cursor; inside a transaction within a savepoint,
    so that a refusal leaves the transaction usable. False when refused."""
    in_transaction = not db.get_autocommit()
    try:
        if in_transaction:
            cursor.execute("SAVEPOINT anju_prepare")
        cursor.execute(sql)
    except psycopg2.Error:
        if in_transaction:
            cursor.execute("ROLLBACK TO SAVEPOINT anju_prepare")
            cursor.execute("RELEASE SAVEPOINT anju_prepare")
        return False
    if in_transaction:
        cursor.execute("RELEASE SAVEPOINT anju_prepare")
    return True


def ensure_statement(db: BaseDatabaseWrapper, cursor, name: str, sql: str) -> None:
    """Prepare the hand-written ``sql`` ("PREPARE name (...) AS ...") on ``db``'s
    connection unless it already is; ``cursor`` is a cursor of ``db``."""
    statements = _statements(db)
    if name not in statements:
        cursor.execute(sql)
        statements[name] = name


def _statement_for(db: BaseDatabaseWrapper, cursor, sql: str, params) -> str | None:
    types = tuple(_pg_type(value) for value in params)
    if None in types:
        return None
    key = (sql, types)
    statements = _statements(db)
    name = statements.get(key)
    if name is not None or key in _refused or len(statements) >= MAX_STATEMENTS:
        return name
    name = f"anju_q{next(_names)}"
    if not _prepare(
        db, cursor.cursor, f"PREPARE {name} ({', '.join(types)}) AS {_numbered(sql)}"
    ):
        if len(_refused) >= _REFUSED_MAX:
            _refused.clear()
        _refused.add(key)
        return None
    statements[key] = name
    return name


def _execute(execute: Callable, sql: str, params, many: bool, context: dict):
    db = context["connection"]
    if (
        many
        or not params
        or db.needs_rollback
        or not sql.startswith(("SELECT", "(SELECT"))
        # A server-side cursor (QuerySet.iterator()) declares itself FOR a query:
        # DECLARE ... FOR EXECUTE is no statement PostgreSQL knows.
        or context["cursor"].cursor.name is not None
    ):
        return execute(sql, params, many, context)
    name = _statement_for(db, context["cursor"], sql, params)
    if name is None:
        return execute(sql, params, many, context)
    placeholders = ", ".join(["%s"] * len(params))
    try:
        return execute(f"EXECUTE {name} ({placeholders})", params, many, context)
    except DatabaseError as error:
        if not isinstance(error.__cause__, _STALE):
            raise
        # The connection's statements no longer match the server: a migration
        # changed a column a statement returns, or something deallocated them.
        # They are prepared again from the next query on; outside a transaction
        # this one runs plainly now, inside one the transaction is lost anyway.
        db._anju_prepared = None
        if not db.get_autocommit():
            raise
        with db.cursor() as cursor:
            cursor.cursor.execute("DEALLOCATE ALL")
        return execute(sql, params, many, context)


@contextlib.contextmanager
def prepared_queries(
    alias: str = "default", *, generic: bool = False
) -> Iterator[None]:
    """Run the SELECTs on ``alias`` inside the block as prepared statements: for a
    part of a view whose plan does not depend on the values (the customer list's
    first page), where the rest of the view is better planned each time.

    ``generic``: run them on their generic plan from the first EXECUTE
    (``plan_cache_mode``), for a query whose plan is the same whatever the values but
    whose generic cost PostgreSQL overestimates, so that it would go on planning it
    for every run (a name search's lookups on the index of the names' pairs)."""
    if not settings.DATABASE_PREPARED_STATEMENTS:
        yield
        return
    db = connections[alias]
    with db.execute_wrapper(_execute):
        if not generic:
            yield
            return
        with _generic_plans(db):
            yield


@contextlib.contextmanager
def _generic_plans(db: BaseDatabaseWrapper) -> Iterator[None]:
    """The connection's prepared statements run on their generic plans inside the
    block; set on the driver's cursor (outside the query log, as PREPARE is) and set
    back after it. A transaction that fails inside undoes the SET itself."""
    db.ensure_connection()
    with db.connection.cursor() as cursor:
        cursor.execute("SET plan_cache_mode = force_generic_plan")
    try:
        yield
    finally:
        raw = db.connection
        if (
            raw is not None
            and not raw.closed
            and raw.info.transaction_status
            != psycopg2.extensions.TRANSACTION_STATUS_INERROR
        ):
            with raw.cursor() as cursor:
                cursor.execute("RESET plan_cache_mode")


def prepared_statements(view: Callable) -> Callable:
    """Run the view's SELECTs on the default database as prepared statements."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        with prepared_queries():
            return view(request, *args, **kwargs)

    return wrapped
