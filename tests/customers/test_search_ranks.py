"""A search of Chinese text alone is read rank by rank (CustomerQuerySet.in_ranks,
customers.selectors._ranked_reader): the names that are the text, then the names
that start with it, then the rest, each newest first. Every page holds the rows, in
the order, that ranking every match would give; a page the first rank fills reads
nothing else; the total is counted, not estimated."""

from __future__ import annotations

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers import selectors
from customers.models import Customer
from tests.factories import CustomerFactory


def _make(names_and_owners, *, company: str = "") -> list[Customer]:
    """Customers of the given names, created a minute apart (newest last)."""
    start = timezone.now() - datetime.timedelta(days=1)
    made = []
    for n, (name, owner) in enumerate(names_and_owners):
        customer = CustomerFactory(
            name=name, assigned_consultant=owner, company=company if n % 7 == 0 else ""
        )
        created = start + datetime.timedelta(minutes=n)
        Customer.objects.filter(pk=customer.pk).update(created_at=created)
        made.append(customer)
    return made


def _ranked(user, text: str) -> list[int]:
    """Every match the user may see, ranked as the ORM ranks a search."""
    qs = Customer.objects.visible_to(user, one=True).identifiable()
    return list(qs.search(text, user=user).ranked().values_list("pk", flat=True))


def _pages(client, text: str) -> list[list[str]]:
    """The names on each page of the list searched for ``text``, as shown."""
    pages = []
    for number in range(1, 20):
        response = client.get("/customers/", {"q": text, "page": number})
        assert response.status_code == 200
        if response.context["page"].number != number:
            break
        pages.append([row.name for row in response.context["rows"]])
    return pages


@pytest.fixture
def matches(consultant, other_consultant, far_consultant):
    owners = [consultant, other_consultant, far_consultant, None]
    names = ["周冬", "周冬梅", "王周冬", "李%周冬_", "周", "冬周", "周冬冬", "陈晨"]
    _make(
        [(names[n % len(names)], owners[n % len(owners)]) for n in range(200)],
        company="周冬科技",
    )


@pytest.mark.django_db
def test_every_page_holds_what_ranking_every_match_gives(
    matches, consultant, sales_manager, executive
):
    for user in (consultant, sales_manager, executive):
        for text in ("周冬", "周冬梅", "%周冬_", "冬周", "周冬科技"):
            expected = _ranked(user, text)
            counted, reader = selectors.customer_list_page(user=user, text=text)
            for low, high in ((0, 26), (0, 3), (2, 5), (25, 51), (50, 76)):
                rows, _sql, _params = reader(low, high)
                assert [r.pk for r in rows] == expected[low:high], (user, text, low)
            assert counted.build().count() == len(expected)


@pytest.mark.django_db
def test_the_pages_of_the_list_show_each_match_once_in_rank_order(
    client, matches, sales_manager
):
    client.force_login(sales_manager)
    pages = _pages(client, "周冬")
    shown = [name for page in pages for name in page]
    expected = Customer.objects.in_bulk(_ranked(sales_manager, "周冬"))
    assert shown == [
        c.name for c in (expected[pk] for pk in _ranked(sales_manager, "周冬"))
    ]
    assert len(pages) > 2 and all(len(page) == 25 for page in pages[:-1])
    # The exact name first, then the names that start with it, then the rest.
    ranks = [0 if n == "周冬" else 1 if n.startswith("周冬") else 2 for n in shown]
    assert ranks == sorted(ranks)
    response = client.get("/customers/", {"q": "周冬", "page": 2})
    page = response.context["page"]
    assert (page.total, page.total_is_estimate) == (len(shown), False)


@pytest.mark.django_db
def test_a_page_the_exact_name_fills_reads_that_rank_alone(consultant):
    _make([("周冬", consultant)] * 30 + [("周冬梅", consultant)] * 5)
    _counted, reader = selectors.customer_list_page(user=consultant, text="周冬")
    with CaptureQueriesContext(connection) as queries:
        rows, _sql, _params = reader(0, 26)
    assert [r.name for r in rows] == ["周冬"] * 26
    assert len(queries) == 1
    # Newest first within the rank.
    created = [r.pk for r in rows]
    newest = Customer.objects.filter(name="周冬").order_by("-created_at", "-id")
    assert created == list(newest.values_list("pk", flat=True)[:26])
    with CaptureQueriesContext(connection) as queries:
        rows, _sql, _params = reader(25, 51)
    assert [r.name for r in rows] == ["周冬"] * 5 + ["周冬梅"] * 5
    assert len(queries) == 3  # the exact name, the names after it, the (empty) rest


@pytest.mark.django_db
def test_the_first_page_runs_prepared_statements(consultant):
    _make([("周冬", consultant)] * 3)
    _counted, reader = selectors.customer_list_page(user=consultant, text="周冬")
    with CaptureQueriesContext(connection) as queries:
        reader(0, 26)
    assert all(re.match(r"EXECUTE anju_q\d+ ", q["sql"]) for q in queries)
    assert len(queries) == 3


@pytest.mark.django_db
def test_names_extending_a_text_are_those_longer_than_it_that_start_with_it(db):
    for name in (
        "周冬",
        "周冬梅",
        "周冬%",
        "周",
        "周东",
        "周冬\U0010fffe",
        "李周冬",
        "周ABC",
    ):
        CustomerFactory(name=name)
    found = Customer.objects.filter(name__extends="周冬").values_list("name", flat=True)
    assert sorted(found) == sorted(["周冬梅", "周冬%", "周冬\U0010fffe"])
    # The text is a value, not a pattern.
    assert not Customer.objects.filter(name__extends="周%").exists()
    assert list(
        Customer.objects.filter(name__extends="周A").values_list("name", flat=True)
    ) == ["周ABC"]
