"""In the browser, in Chinese: a sales manager opens the top customers, filters by
tier, and opens the most valuable customer, whose page shows the tier and figures."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from customers import value
from customers.models import ValueTier
from tests.browser.test_customer_journey import login
from tests.factories import CustomerFactory, make_building
from tests.insight_fixtures import facts_refreshed, sell

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_sales_manager_finds_the_top_customers_and_opens_one(
    page,
    screenshot,
    sales_manager,
    consultant,
):
    value.default_tiers_create()
    building = make_building(floors=3, per_floor=4, skipped=())
    deals = [sell(building, consultant, contract=True) for _ in range(3)]
    referrer = CustomerFactory(
        name="老业主", stage="owner", assigned_consultant=consultant
    )
    from marketing.models import Referral

    Referral.objects.create(
        referrer=referrer, friend=deals[0].customer, recorded_by=consultant
    )
    sell(building, consultant, contract=False)
    silver = ValueTier.objects.get(name="白银")
    facts_refreshed(value.FACT)

    login(page, "sales_manager")
    page.goto("/customers/")
    page.get_by_test_id("value-list-link").click()
    expect(page.get_by_test_id("value-heading")).to_be_visible()
    table = page.get_by_test_id("value-table")
    expect(table.locator("tbody tr")).to_have_count(5)
    screenshot("value-01-top-customers")
    page.locator("#id_tier").select_option(str(silver.pk))
    page.get_by_test_id("value-filter").click()
    expect(table.get_by_test_id("value-tier").first).to_have_text("白银")
    table.locator("tbody tr a").first.click()
    expect(page.get_by_test_id("customer-value-tier")).to_be_visible()
    expect(page.get_by_test_id("customer-value")).to_contain_text("¥")
    screenshot("value-02-customer-page")
