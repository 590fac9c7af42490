"""The API's documentation page renders in a real browser under the site's CSP
(the page fixture fails on any CSP violation)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


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
