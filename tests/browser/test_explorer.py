"""A sales manager builds a pivot in the explorer (in Chinese), drills into a cell and
exports the table."""

from __future__ import annotations

import pytest
from openpyxl import load_workbook

from tests.browser.test_customer_journey import login
from tests.factories import make_building
from tests.insight_fixtures import facts_refreshed, sell

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_manager_builds_a_pivot_drills_into_a_cell_and_exports_it(
    page, screenshot, consultant, other_consultant, sales_manager
):
    first = make_building(project_name="安居·御景湾", floors=2, per_floor=4, skipped=())
    second = make_building(
        project_name="安居·滨江府", floors=2, per_floor=4, skipped=()
    )
    sell(first, consultant, contract=True)
    sell(first, other_consultant, contract=True)
    sell(first, consultant, contract=False)
    sell(second, other_consultant, contract=False)
    facts_refreshed("sales.deals")

    login(page, "sales_manager")
    page.get_by_test_id("nav-explorer").click()
    page.wait_for_url("**/insight/explorer/**")
    form = page.get_by_test_id("explorer-form")
    form.locator("#x-rows").select_option("project")
    form.locator("#x-columns").select_option("stage")
    page.get_by_test_id("explorer-show").click()
    page.get_by_test_id("pivot").wait_for()
    assert page.get_by_test_id("pivot-total").inner_text() == "4"
    row = page.locator("[data-testid=pivot] tbody tr", has_text="安居·御景湾")
    assert row.get_by_test_id("pivot-row-total").inner_text() == "3"
    screenshot("explorer-pivot")

    page.set_viewport_size({"width": 390, "height": 844})
    screenshot("explorer-pivot-phone")
    page.set_viewport_size({"width": 1280, "height": 860})

    with page.expect_download() as download:
        page.get_by_test_id("explorer-export").click()
    assert download.value.suggested_filename.endswith(".xlsx")
    with open(download.value.path(), "rb") as workbook:
        sheet = load_workbook(workbook).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[-1][-1] == 4
    assert any(r[0] == "安居·御景湾" and r[-1] == 3 for r in rows)

    # The view is saved under a name and listed among the manager's own.
    page.get_by_test_id("save-view").locator("input[name=name]").fill("项目成交分布")
    page.get_by_test_id("save-view").locator("button[type=submit]").click()
    page.get_by_test_id("pivot").wait_for()
    page.goto("/insight/reports/")
    page.get_by_test_id("saved-view").filter(has_text="项目成交分布").wait_for()
    screenshot("explorer-reports")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot("explorer-reports-phone")
    page.set_viewport_size({"width": 1280, "height": 860})
    page.get_by_test_id("saved-view").click()
    page.get_by_test_id("pivot").wait_for()
    row = page.locator("[data-testid=pivot] tbody tr", has_text="安居·御景湾")

    # The cell of the first project's contracted deals opens the deal list.
    cell = row.get_by_test_id("pivot-cell").first
    expected = cell.inner_text()
    cell.click()
    page.wait_for_url("**/sales/deals/**")
    page.get_by_test_id("drill-banner").wait_for()
    assert "安居·御景湾" in page.get_by_test_id("drill-banner").inner_text()
    shown = page.locator("table tbody tr").count()
    assert str(shown) == expected
    screenshot("explorer-drill")
