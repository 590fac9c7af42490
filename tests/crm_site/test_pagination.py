"""Lists tell how many rows match (exact under the cap, "about" above it) and let you
jump to a page, without ever counting a whole big table."""

from __future__ import annotations

import re
from unittest import mock

import pytest
from django.db import connection
from django.db.models.sql.query import Query
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm_site.pagination import paginate, round_estimate
from crm_site.templatetags.paging import query_as_hidden_inputs
from customers.models import Customer
from tests.factories import CustomerFactory
from tests.helpers import count_queries

LIST = reverse("customers:customer-list")


def test_the_total_of_a_single_page_costs_no_query(db, consultant):
    CustomerFactory.create_batch(3, assigned_consultant=consultant)
    qs = Customer.objects.order_by("pk")
    assert count_queries(lambda: paginate(qs, page="1")) == 1
    page = paginate(qs, page="1")
    assert (page.total, page.total_is_estimate, page.last_page_number) == (3, False, 1)


def test_a_list_under_the_cap_is_planned_then_counted_exactly_with_a_bounded_query(
    db, consultant, settings
):
    settings.PAGINATION_COUNT_CAP = 50
    CustomerFactory.create_batch(30, assigned_consultant=consultant)
    # The planner's estimate must see these rows, not what other tests left behind.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE customers_customer")
    qs = Customer.objects.order_by("pk")
    with CaptureQueriesContext(connection) as ctx:
        page = paginate(qs, page="1", per_page=10)
    assert (page.total, page.total_is_estimate, page.last_page_number) == (30, False, 3)
    assert len(ctx.captured_queries) == 3
    assert ctx.captured_queries[1]["sql"].startswith("EXPLAIN (FORMAT JSON)")
    count_sql = ctx.captured_queries[2]["sql"]
    assert "COUNT(*)" in count_sql and "LIMIT 51" in count_sql
    # The count ignores the ordering: the planner may stop at any 51 rows.
    assert "ORDER BY" not in count_sql


def test_a_total_is_remembered_until_a_row_of_its_model_changes(
    db, consultant, settings
):
    settings.PAGINATION_COUNT_CAP = 50
    CustomerFactory.create_batch(30, assigned_consultant=consultant)
    qs = Customer.objects.filter(assigned_consultant=consultant).order_by("pk")
    assert paginate(qs, page="1", per_page=10).total == 30
    with CaptureQueriesContext(connection) as ctx:
        assert paginate(qs, page="2", per_page=10).total == 30
    assert len(ctx.captured_queries) == 1  # the page itself, no plan, no count
    CustomerFactory(assigned_consultant=consultant)
    assert paginate(qs, page="1", per_page=10).total == 31


def test_a_remembered_total_is_found_by_the_page_query_without_compiling_another(
    db, consultant, other_consultant, settings
):
    settings.PAGINATION_COUNT_CAP = 50
    CustomerFactory.create_batch(12, assigned_consultant=consultant)
    CustomerFactory.create_batch(15, assigned_consultant=other_consultant)
    mine = Customer.objects.filter(assigned_consultant=consultant).order_by("pk")
    theirs = Customer.objects.filter(assigned_consultant=other_consultant).order_by(
        "pk"
    )
    assert paginate(mine, page="1", per_page=5).total == 12
    # The key of the total is the SQL the page was read with: no count query is
    # compiled for it (only on a miss, to plan and count).
    with mock.patch.object(
        Query, "sql_with_params", side_effect=AssertionError("compiled")
    ):
        assert paginate(mine, page="2", per_page=5).total == 12
    # Another filter (the same SQL, other parameters) is another total.
    assert paginate(theirs, page="1", per_page=5).total == 15


def test_a_list_read_by_a_reader_builds_its_queryset_only_to_count(
    db, consultant, settings
):
    """With a reader (SQL compiled once), the queryset to count may be a ToCount:
    built on a miss of the cached total, or to find the last page past the end."""
    from crm_site.compiled import SliceRead
    from crm_site.pagination import ToCount

    settings.PAGINATION_COUNT_CAP = 50
    CustomerFactory.create_batch(12, assigned_consultant=consultant)
    qs = Customer.objects.filter(assigned_consultant=consultant).order_by("pk")
    read = SliceRead(qs, {})
    built = []

    def build():
        built.append(1)
        return qs

    counted = ToCount(Customer, build)

    def reader(low, high):
        return read.rows({}, low, high)

    assert paginate(counted, page="1", per_page=5, reader=reader).total == 12
    assert len(built) == 1
    assert paginate(counted, page="1", per_page=5, reader=reader).total == 12
    assert len(built) == 1  # the total was remembered
    last = paginate(counted, page="9", per_page=5, reader=reader)
    assert (last.number, len(last.items)) == (3, 2)
    with pytest.raises(ValueError):
        paginate(counted, page="1")


def test_a_list_above_the_cap_shows_the_planners_rounded_estimate(
    db, consultant, settings
):
    settings.PAGINATION_COUNT_CAP = 5
    CustomerFactory.create_batch(12, assigned_consultant=consultant)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE customers_customer")
    with CaptureQueriesContext(connection) as ctx:
        page = paginate(Customer.objects.order_by("pk"), page="1", per_page=4)
    assert page.total_is_estimate
    assert page.total >= 6
    assert page.last_page_number is None
    assert len(ctx.captured_queries) == 3


def test_a_list_far_above_the_cap_is_not_counted_at_all(db, consultant, settings):
    settings.PAGINATION_COUNT_CAP = 2
    CustomerFactory.create_batch(12, assigned_consultant=consultant)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE customers_customer")
    with CaptureQueriesContext(connection) as ctx:
        page = paginate(Customer.objects.order_by("pk"), page="1", per_page=4)
    assert (page.total, page.total_is_estimate) == (12, True)
    assert [q["sql"].split(" ")[0] for q in ctx.captured_queries] == [
        "SELECT",
        "EXPLAIN",
    ]


def test_a_count_the_planner_prices_dear_is_not_run(db, consultant, settings):
    # A selective filter no index serves: counting even a few rows would read the
    # whole table, so the estimate is shown.
    settings.PAGINATION_COUNT_MAX_COST = 0
    CustomerFactory.create_batch(30, assigned_consultant=consultant)
    with CaptureQueriesContext(connection) as ctx:
        page = paginate(Customer.objects.order_by("pk"), page="1")
    assert page.total_is_estimate
    assert len(ctx.captured_queries) == 2


def test_the_last_page_knows_the_exact_total_even_above_the_cap(
    db, consultant, settings
):
    settings.PAGINATION_COUNT_CAP = 5
    CustomerFactory.create_batch(12, assigned_consultant=consultant)
    page = paginate(Customer.objects.order_by("pk"), page="3", per_page=5)
    assert (page.total, page.total_is_estimate, len(page.items)) == (12, False, 2)


def test_feeds_can_skip_the_count(db, consultant):
    CustomerFactory.create_batch(30, assigned_consultant=consultant)
    qs = Customer.objects.order_by("pk")
    assert count_queries(lambda: paginate(qs, page="1", count=False)) == 1
    assert paginate(qs, page="1", count=False).total is None


@pytest.mark.parametrize(
    ("estimate", "shown"),
    [(7, 7), (99, 99), (123, 120), (12_345, 12_000), (1_000_312, 1_000_000)],
)
def test_estimates_are_rounded_to_two_significant_digits(estimate, shown):
    assert round_estimate(estimate) == shown


def test_the_customer_list_says_how_many_match_and_offers_a_page_jump(
    client, sales_manager, consultant
):
    CustomerFactory.create_batch(30, assigned_consultant=consultant)
    client.force_login(sales_manager)
    response = client.get(LIST, {"stage": "prospect"}, HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    assert re.search(r'data-testid="page-total">30 matches<', html)
    assert "Page 1 of 2" in html
    jump = re.search(
        r'<form method="get"[^>]*data-testid="page-jump">(.*?)</form>', html, re.S
    )
    assert jump
    # The jump keeps the filters and knows the last page.
    assert '<input type="hidden" name="stage" value="prospect">' in jump.group(1)
    assert 'max="2"' in jump.group(1)


def test_the_customer_list_above_the_cap_says_about(
    client, sales_manager, consultant, settings
):
    settings.PAGINATION_COUNT_CAP = 10
    CustomerFactory.create_batch(30, assigned_consultant=consultant)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE customers_customer")
    client.force_login(sales_manager)
    html = client.get(LIST, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    total = re.search(r'data-testid="page-total">about ([\d,]+) matches<', html)
    assert total and int(total.group(1).replace(",", "")) > 10
    assert "Page 1<" in html
    assert 'max="' not in html.split('data-testid="page-jump"')[1].split("</form>")[0]


@pytest.mark.parametrize(
    ("asked", "shown", "moved"),
    [("2", 2, False), ("3", 3, False), ("4", 3, True), ("999999", 3, True)],
)
def test_jumping_to_a_page_shows_it_or_the_last_one(
    client, sales_manager, consultant, asked, shown, moved
):
    CustomerFactory.create_batch(55, assigned_consultant=consultant)
    client.force_login(sales_manager)
    response = client.get(LIST, {"stage": "prospect", "page": asked})
    assert response.status_code == 200
    page = response.context["page"]
    assert (page.number, page.moved, page.total) == (shown, moved, 55)
    assert (b'data-testid="page-moved"' in response.content) is moved


@pytest.mark.parametrize("asked", ["0", "-2", "abc", "1e3", "２"])
def test_jumping_to_a_page_that_is_no_number_shows_page_one(
    client, sales_manager, consultant, asked
):
    CustomerFactory.create_batch(30, assigned_consultant=consultant)
    client.force_login(sales_manager)
    response = client.get(LIST, {"page": asked})
    assert response.status_code == 200
    assert response.context["page"].number in (1, 2)
    assert response.context["page"].total == 30


def test_hidden_inputs_carry_every_filter_but_the_page_and_escape_values():
    html = query_as_hidden_inputs("q=%3Cb%3E&tag=1&tag=2&page=4")
    assert html == (
        '<input type="hidden" name="q" value="&lt;b&gt;">'
        '<input type="hidden" name="tag" value="1">'
        '<input type="hidden" name="tag" value="2">'
    )
    assert query_as_hidden_inputs("") == ""


def _page_links(**context) -> str:
    from types import SimpleNamespace

    from django.template.loader import render_to_string

    page = SimpleNamespace(
        moved=False,
        total=60,
        total_is_estimate=False,
        has_previous=True,
        has_next=True,
        previous_page_number=1,
        next_page_number=3,
        number=2,
        last_page_number=3,
    )
    return render_to_string("components/_pagination.html", {"page": page, **context})


def test_the_page_links_name_the_page_parameter_they_are_given():
    """A page with two lists pages the second by its own parameter: the links and
    the jump use it, and the jump keeps the first list's page."""
    html = _page_links(param="changes_page", filter_query="project=4&page=2")

    assert "project=4&amp;page=2&amp;changes_page=1" in html
    assert "project=4&amp;page=2&amp;changes_page=3" in html
    jump = html.split('data-testid="page-jump"')[1].split("</form>")[0]
    assert 'name="changes_page"' in jump
    assert '<input type="hidden" name="page" value="2">' in jump
    assert 'name="changes_page" value' not in jump.split("<label")[0]


def test_the_page_links_use_page_by_default():
    html = _page_links(filter_query="stage=prospect")

    assert "stage=prospect&amp;page=1" in html
    assert "stage=prospect&amp;page=3" in html
    assert 'type="number" name="page"' in html
