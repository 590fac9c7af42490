from __future__ import annotations

import pytest

from sales.models import Opportunity, Unit
from tests.browser.test_customer_journey import login
from tests.factories import make_building

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_consultant_reserves_a_unit_from_the_grid_and_a_colleague_sees_it_taken(
    page, browser, live_server, screenshot, consultant, other_consultant, own_customer
):
    building = make_building(floors=6, per_floor=4)
    login(page, "consultant")
    page.goto(f"/sales/buildings/{building.pk}/")
    page.get_by_test_id("sales-grid").wait_for()
    screenshot("20-sales-grid")
    page.locator("a[data-unit='101']").click()
    page.wait_for_url("**/sales/units/*/")
    form = page.get_by_test_id("reserve-form")
    form.locator("input[name=mobile]").fill("138 0013 8000")
    form.locator("button[type=submit]").click()
    page.get_by_test_id("unit-status").filter(has_text="预留").wait_for()
    screenshot("21-unit-held")
    unit = Unit.objects.get(building=building, number="101")
    assert unit.status == "reserved"
    assert Opportunity.objects.get().customer == own_customer

    # A colleague at another desk: the grid shows the unit taken and it cannot be held.
    context = browser.new_context(
        base_url=live_server.url,
        locale="zh-CN",
        viewport={"width": 1280, "height": 860},
    )
    other = context.new_page()
    login(other, "consultant2")
    other.goto(f"/sales/buildings/{building.pk}/")
    cell = other.locator("td:has(a[data-unit='101'])")
    assert "unit-reserved" in cell.get_attribute("class")
    other.locator("a[data-unit='101']").click()
    other.get_by_test_id("unit-taken").wait_for()
    assert other.get_by_test_id("reserve-form").count() == 0
    other.screenshot(
        path=str(
            screenshot("22-colleague-sees-taken").parent / "22-colleague-sees-taken.png"
        )
    )
    context.close()
