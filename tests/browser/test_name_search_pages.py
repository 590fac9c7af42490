"""A name search paged in the browser, in Chinese: the exact name first, then the
names that start with it, then the rest; the total counted; page two follows page
one (customers.selectors._ranked_reader)."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from customers.models import Customer
from tests.browser.test_customer_journey import login
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_name_search_pages_through_its_ranks(page, screenshot, consultant):
    start = timezone.now() - datetime.timedelta(days=1)
    names = ["周冬"] * 30 + ["周冬梅"] * 5 + ["李周冬"] * 3 + ["王强"] * 4
    for n, name in enumerate(names):
        customer = CustomerFactory(name=name, assigned_consultant=consultant)
        Customer.objects.filter(pk=customer.pk).update(
            created_at=start + datetime.timedelta(minutes=n)
        )

    login(page, "consultant")
    page.goto("/customers/")
    page.locator("#id_q").fill("周冬")
    page.locator("#id_q").press("Enter")
    table = page.get_by_test_id("customer-table")
    expect(page.get_by_test_id("page-total")).to_have_text("共 38 条")
    first = [row.split("\t")[0].strip() for row in _names(table)]
    assert first == ["周冬"] * 25
    screenshot("name-search-01-first-page")

    page.get_by_role("link", name="下一页").click()
    page.wait_for_url("**page=2**")
    expect(page.get_by_test_id("page-total")).to_have_text("共 38 条")
    second = [row.split("\t")[0].strip() for row in _names(table)]
    assert second == ["周冬"] * 5 + ["周冬梅"] * 5 + ["李周冬"] * 3
    screenshot("name-search-02-second-page")


def _names(table) -> list[str]:
    """The name cell of each row shown."""
    table.locator("tbody tr").first.wait_for()
    return table.locator("tbody tr td:first-child").all_inner_texts()
