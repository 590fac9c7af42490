"""The API's documentation page renders in a real browser under the site's CSP
(the page fixture fails on any CSP violation)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_api_docs_render_without_inline_scripts(page, screenshot):
    response = page.goto("/api/v1/docs/")
    assert response.status == 200
    page.get_by_text("Anju CRM API").first.wait_for()
    screenshot("api_docs")


@pytest.mark.urls("tests.api.urls")
def test_the_docs_show_operations_and_problems(page, screenshot):
    page.goto("/api/v1/test-docs/")
    page.get_by_text("/api/v1/test-teams/").first.wait_for()
    screenshot("api_docs_operations")
    # One operation opened: its Idempotency-Key header and problem responses.
    page.locator("#operations-test-teams-test_teams_create button").first.click()
    block = page.locator("#operations-test-teams-test_teams_create")
    block.get_by_text("Idempotency-Key").first.wait_for()
    for code in ("400", "401", "403", "409", "422", "429"):
        assert block.locator(f"tr.response[data-code='{code}']").count() == 1, code
    screenshot("api_docs_operation")


def test_an_administrator_creates_a_key_and_sees_it_once(
    page, screenshot, administrator, sales_manager
):
    from crm_site.api.models import ApiKey
    from tests.browser.test_customer_journey import login

    login(page, "admin")
    page.goto("/admin/crm_site/apikey/add/")
    page.locator("#id_name").fill("ERP")
    page.locator(".select2-selection").first.click()
    page.locator(".select2-search__field").fill(sales_manager.username)
    page.locator(".select2-results__option", has_text=str(sales_manager)).click()
    page.locator("input[name=scopes][value='customers:read']").check()
    page.locator("input[name=_save]").click()
    secret = page.locator("#api-key-secret")
    secret.wait_for()
    value = secret.input_value()
    key = ApiKey.objects.get(name="ERP")
    assert value.startswith(f"anju_{key.lookup}_") and key.acts_as == sales_manager
    screenshot("api_key_secret")
    page.get_by_role("link", name="完成").click()
    assert value not in page.content()
    page.goto("/admin/crm_site/apikey/")
    assert value not in page.content()
    screenshot("api_key_list")
