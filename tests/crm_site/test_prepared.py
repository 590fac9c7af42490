"""Prepared statements (crm_site.prepared): the same rows as the plain statement, one
PREPARE per connection, and nothing broken by what PostgreSQL will not prepare."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import DataError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm_site import prepared
from customers.models import Customer
from tests.factories import CustomerFactory


@pytest.fixture(autouse=True)
def no_statements_yet(request):
    """Each test starts from a connection with nothing prepared (the connection
    outlives a test; other tests may have prepared on it)."""
    if "django_db" not in request.keywords:
        return
    request.getfixturevalue("db")
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    connection._anju_prepared = None


def _prepared_sql() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def _run(sql: str, params) -> list[tuple]:
    with connection.execute_wrapper(prepared._execute), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def test_placeholders_are_numbered_as_the_driver_reads_them():
    sql = "SELECT a FROM t WHERE b = %s AND c LIKE 'x%%' AND d = ANY(%s) AND e = %s"
    assert prepared._numbered(sql) == (
        "SELECT a FROM t WHERE b = $1 AND c LIKE 'x%' AND d = ANY($2) AND e = $3"
    )
    # "%%s" is a percent sign followed by the letter s, not a placeholder.
    assert prepared._numbered("SELECT '%%s', %s") == "SELECT '%s', $1"


def test_only_plain_parameters_have_a_type():
    now = timezone.now()
    assert [
        prepared._pg_type(value)
        for value in (
            True,
            7,
            "王",
            now,
            now.replace(tzinfo=None),
            datetime.date(2026, 12, 4),
            Decimal("1.5"),
            1.5,
            [1, 2],
            ["a"],
        )
    ] == [
        "boolean",
        "bigint",
        "text",
        "timestamptz",
        "timestamp",
        "date",
        "numeric",
        "double precision",
        "bigint[]",
        "text[]",
    ]
    # No type to give: a NULL, an empty or mixed list, anything else (JSON).
    for value in (None, [], [1, "a"], [True], (1, 2), {"a": 1}):
        assert prepared._pg_type(value) is None


@pytest.mark.django_db
def test_a_statement_is_prepared_once_per_connection_and_gives_the_same_rows():
    customers = CustomerFactory.create_batch(3)
    sql = (
        'SELECT "id", "name" FROM "customers_customer" '
        'WHERE "id" = ANY(%s) AND "name" LIKE %s ORDER BY "id"'
    )
    params = [[c.pk for c in customers], "%"]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        plain = cursor.fetchall()
    assert _run(sql, params) == plain == [(c.pk, c.name) for c in customers]
    assert _run(sql, params) == plain
    statements = _prepared_sql()
    assert len(statements) == 1
    assert "ANY($1)" in statements[0] and "LIKE $2" in statements[0]


@pytest.mark.django_db
def test_a_statement_postgresql_refuses_runs_plainly_and_keeps_the_transaction():
    # substring(text, bigint) does not exist: PREPARE fails, the plain statement
    # (its literal an integer) runs.
    sql = "SELECT substring(%s, %s)"
    with transaction.atomic():
        assert _run(sql, ["安居客户", 3]) == [("客户",)]
        # The transaction is still usable, and the refusal is remembered.
        assert Customer.objects.count() == 0
        assert (sql, ("text", "bigint")) in prepared._refused
        assert _run(sql, ["安居客户", 3]) == [("客户",)]


@pytest.mark.django_db(transaction=True)
def test_a_refusal_outside_a_transaction_runs_plainly_too():
    assert connection.get_autocommit()
    assert _run("SELECT left(%s, %s)", ["安居", 1]) == [("安",)]
    assert _run("SELECT repeat(%s, %s)", ["安", 2]) == [("安安",)]


@pytest.mark.django_db
def test_what_has_no_plain_type_is_not_prepared():
    before = len(_prepared_sql())
    assert _run("SELECT %s IS NULL", [None]) == [(True,)]
    assert _run("SELECT 1 WHERE 1 = ANY(%s)", [[]]) == []
    # Not a SELECT: never prepared.
    with connection.execute_wrapper(prepared._execute), connection.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = %s", ["5s"])
    assert len(_prepared_sql()) == before


@pytest.mark.django_db
def test_a_server_side_cursor_runs_its_query_plainly():
    customers = CustomerFactory.create_batch(3)
    with connection.execute_wrapper(prepared._execute):
        ids = list(
            Customer.objects.filter(pk__gt=0)
            .order_by("pk")
            .values_list("pk", flat=True)
            .iterator(chunk_size=2)
        )
    assert ids == [c.pk for c in customers]
    assert _prepared_sql() == []


@pytest.mark.django_db(transaction=True)
def test_a_new_connection_prepares_again():
    sql = 'SELECT count(*) FROM "customers_customer" WHERE "id" > %s'
    assert _run(sql, [0]) == [(0,)]
    connection.close()
    connection.connect()
    try:
        assert _run(sql, [0]) == [(0,)]
        assert any("customers_customer" in s for s in _prepared_sql())
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_a_statement_gone_stale_is_run_plainly_and_prepared_again():
    sql = 'SELECT count(*) FROM "customers_customer" WHERE "id" > %s'
    assert _run(sql, [0]) == [(0,)]
    # Deallocated behind the registry's back (a reset connection, say).
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    assert _run(sql, [0]) == [(0,)]
    assert _run(sql, [0]) == [(0,)]
    assert len(_prepared_sql()) == 1


@pytest.mark.django_db(transaction=True)
def test_a_column_changed_under_a_prepared_statement_is_read_plainly():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE anju_prepared_probe (a integer)")
        cursor.execute("INSERT INTO anju_prepared_probe VALUES (1), (2)")
    try:
        sql = "SELECT a FROM anju_prepared_probe WHERE a > %s ORDER BY a"
        assert _run(sql, [0]) == [(1,), (2,)]
        with connection.cursor() as cursor:
            # The statement's result type changes: PostgreSQL refuses to run it.
            cursor.execute("ALTER TABLE anju_prepared_probe ALTER a TYPE bigint")
        assert _run(sql, [1]) == [(2,)]
        # The stale statement was dropped, and the query ran plainly.
        assert connection._anju_prepared is None
        assert _prepared_sql() == []
        assert _run(sql, [0]) == [(1,), (2,)]
        assert len(_prepared_sql()) == 1
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE anju_prepared_probe")


@pytest.mark.django_db
def test_a_connection_holds_at_most_max_statements(monkeypatch):
    monkeypatch.setattr(prepared, "MAX_STATEMENTS", 2)
    for n in range(4):
        assert _run(f"SELECT {n} + %s", [1]) == [(n + 1,)]
    assert len([s for s in _prepared_sql() if "$1" in s]) <= 2


@pytest.mark.django_db
def test_the_customer_page_runs_its_queries_prepared_with_the_same_page(
    client, sales_manager, settings
):
    customer = CustomerFactory(assigned_consultant=sales_manager, name="周冬梅")
    url = reverse("customers:customer-detail", args=[customer.pk])
    client.force_login(sales_manager)
    settings.DATABASE_PREPARED_STATEMENTS = False
    plain = client.get(url)
    settings.DATABASE_PREPARED_STATEMENTS = True
    client.get(url)
    with CaptureQueriesContext(connection) as queries:
        again = client.get(url)
    assert again.status_code == plain.status_code == 200
    # The one-time tokens differ between any two renderings; the rest does not.
    assert _without_tokens(again.content) == _without_tokens(plain.content)
    assert any(q["sql"].startswith("EXECUTE anju_q") for q in queries.captured_queries)


def _without_tokens(html: bytes) -> str:
    import re

    return re.sub(r"[A-Za-z0-9_:\-]{32,}", "", html.decode())


@pytest.mark.django_db
def test_a_page_read_prepared_keys_its_total_by_the_sql_django_built():
    """The cached total of a list is keyed by its SQL: under prepared statements it
    must still be that SQL, not "EXECUTE anju_qN", whose name another process gives
    to another query."""
    from crm_site.pagination import _slice

    CustomerFactory.create_batch(3)
    qs = Customer.objects.filter(pk__gt=0).order_by("pk")
    with connection.execute_wrapper(prepared._execute):
        read = _slice(qs, 1, 2)
    assert len(read.rows) == 3
    assert read.sql_key.startswith("SELECT")
    # ... and the page was read prepared.
    assert len(_prepared_sql()) == 1


@pytest.mark.django_db
def test_the_customer_list_prepares_its_plain_first_page_and_a_search_not_a_filter(
    client, sales_manager, settings
):
    """The plain list's first page, a search narrowed to ids (a number) and a name
    search of two characters or more are read the same way whatever the values:
    prepared, with the same page. A search for one character (its best plan depends
    on it), a filter and a later page (its LIMIT a statement of its own) are
    planned."""
    for name in ("周冬梅", "周冬雪", "王强", *["周冬"] * 26):
        CustomerFactory(assigned_consultant=sales_manager, name=name)
    CustomerFactory(assigned_consultant=sales_manager, mobile="+8613912345678")
    client.force_login(sales_manager)
    url = reverse("customers:customer-list")

    def executed(params: dict) -> tuple[bytes, list[str]]:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, params)
        assert response.status_code == 200
        return response.content, [q["sql"] for q in queries.captured_queries]

    for params in (
        {},
        {"q": "13912345678"},
        {"q": "139 1234 5678", "page": "1"},
        {"q": "周冬"},
    ):
        settings.DATABASE_PREPARED_STATEMENTS = False
        plain, _ = executed(params)
        settings.DATABASE_PREPARED_STATEMENTS = True
        again, sql = executed(params)
        assert _without_tokens(again) == _without_tokens(plain)
        assert any(s.startswith("EXECUTE anju_q") for s in sql), params
    for params in (
        {"q": "周"},
        {"stage": "new"},
        {"q": "周冬", "page": "2"},
        {"sort": "name"},
    ):
        _, sql = executed(params)
        assert not any(s.startswith("EXECUTE anju_q") for s in sql), params
        if "q" in params:
            # The name's lookups and the page are one statement, planned.
            assert any("STRPOS" in s.upper() for s in sql)


def _plan_cache_mode() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW plan_cache_mode")
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_a_name_search_runs_on_its_generic_plan_from_the_first_search(
    client, sales_manager
):
    """A name of two characters or more is read through one statement on its
    generic plan: PostgreSQL does not plan it for each text (its estimate of that
    plan's cost is dearer than a text's own), and the connection's other
    statements are planned as before once the read is done."""
    for name in ("周冬梅", "王冬", "李强"):
        CustomerFactory(assigned_consultant=sales_manager, name=name)
    client.force_login(sales_manager)
    url = reverse("customers:customer-list")
    for text, names in (
        ("周冬", ["周冬梅"]),
        ("冬梅", ["周冬梅"]),
        ("李强", ["李强"]),
        ("不在", []),
    ):
        response = client.get(url, {"q": text})
        assert response.status_code == 200
        assert [row.name for row in response.context["rows"]] == names
        assert _plan_cache_mode() == "auto"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
            " WHERE statement LIKE '%%STRPOS%%'"
        )
        assert cursor.fetchall() == [(4, 0)]


@pytest.mark.django_db(transaction=True)
def test_generic_plans_are_set_back_and_a_failed_transaction_undoes_them():
    CustomerFactory(name="周冬梅")
    with prepared.prepared_queries(generic=True):
        assert _plan_cache_mode() == "force_generic_plan"
        assert _run("SELECT name FROM customers_customer WHERE id > %s", [0]) == [
            ("周冬梅",)
        ]
    assert _plan_cache_mode() == "auto"
    with (
        pytest.raises(DataError),
        transaction.atomic(),
        prepared.prepared_queries(generic=True),
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT 1 / 0")
    assert _plan_cache_mode() == "auto"
