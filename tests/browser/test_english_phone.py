"""English at phone width, and the dashboards' labels in the reader's language."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from tests.browser.test_customer_journey import login
from tests.browser.test_sales_screens import _office

PHONE = {"width": 390, "height": 844}
WIDE = {"width": 1280, "height": 860}


def _english(page) -> None:
    page.set_viewport_size(WIDE)
    with page.expect_navigation():
        page.locator("#language-select").select_option("en")
    page.locator("html[lang=en]").wait_for()


def _inside_the_screen(page, locator) -> None:
    box = locator.bounding_box()
    assert box is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= page.viewport_size["width"], box


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_sales_desk_in_english_fits_a_phone_the_open_deals_buttons_reachable(
    page, screenshot, sales_manager
):
    login(page, "sales_manager")
    _english(page)
    page.set_viewport_size(PHONE)
    page.goto("/sales/")
    screenshot("ro-sales-home-en-390")
    for name in ("Dashboard", "Approvals", "Commission", "Overdue payments", "Board"):
        _inside_the_screen(page, page.get_by_role("link", name=name, exact=True).last)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, f"/sales/ is {width}px wide on a 390px screen"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_service_desk_in_english_fits_a_phone_its_four_big_buttons_reachable(
    page, screenshot, service_manager
):
    login(page, "service_manager")
    _english(page)
    page.set_viewport_size(PHONE)
    page.goto("/service/")
    screenshot("ro-service-home-en-390")
    bar = page.locator("main .d-flex.gap-2").first
    for link in bar.locator("a").all():
        _inside_the_screen(page, link)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, f"/service/ is {width}px wide on a 390px screen"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_sales_dashboard_money_axis_in_english_has_no_chinese_unit(
    page, screenshot, consultant, sales_manager, team
):
    _office(consultant, team)
    cache.clear()
    login(page, "sales_manager")
    _english(page)
    page.goto("/sales/dashboard/")
    page.locator("#months-chart").wait_for()
    ticks = page.evaluate(
        "() => Chart.getChart(document.getElementById('months-chart'))"
        ".scales.y.ticks.map(t => String(t.label))"
    )
    screenshot("ro-sales-dashboard-en")
    assert ticks, ticks
    assert not any("万" in tick for tick in ticks), ticks
