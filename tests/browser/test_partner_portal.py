from __future__ import annotations

import pytest

from marketing.models import PartnerRegistration
from marketing.services.partners import partner_registration_create
from tests.browser.test_customer_journey import login
from tests.marketing import conftest as marketing_fixtures

# The marketing fixtures, made visible to this module.
broker = marketing_fixtures.broker
building = marketing_fixtures.building
other_broker = marketing_fixtures.other_broker
other_partner = marketing_fixtures.other_partner
partner = marketing_fixtures.partner
project = marketing_fixtures.project
sign = marketing_fixtures.sign

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_broker_registers_a_customer_and_sees_only_their_own(
    page, screenshot, broker, partner, other_broker, other_partner, project
):
    partner_registration_create(
        broker=other_broker,
        partner=other_partner,
        project=project,
        name="陈二",
        mobile="+8613922223333",
    )
    login(page, "broker")
    page.wait_for_url("**/marketing/portal/")
    page.get_by_test_id("portal-register").click()
    # Field ids, not labels: the new strings are translated by the lead later.
    page.locator("#id_name").fill("冯一")
    page.locator("#id_mobile").fill("139 1111 2222")
    page.locator("#id_project").select_option(label=project.name)
    page.get_by_test_id("portal-form").locator("button[type=submit]").click()
    page.wait_for_url("**/marketing/portal/")
    table = page.get_by_test_id("partner-registrations").inner_text()
    assert "冯一" in table and "139****2222" in table
    assert "陈二" not in table and "13911112222" not in table
    assert PartnerRegistration.objects.get(partner=partner).customer.name == "冯一"
    screenshot("60-partner-portal")
    # On the broker's phone the table keeps its rows on one line and scrolls in its
    # own box, the page itself no wider than the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    cell = page.get_by_test_id("partner-registrations").locator("tbody td").nth(2)
    assert cell.bounding_box()["height"] < 60
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.get_by_test_id("portal-register").get_attribute("aria-current") is None
    screenshot("60-partner-portal-390")
    # No way into the customer list.
    response = page.goto("/customers/")
    assert response.status == 403


def test_the_executive_overview_renders_with_figures_linking_to_their_pages(
    page,
    screenshot,
    executive,
    consultant,
    sign,
):
    from django.core.cache import cache

    from tests.factories import CustomerFactory

    cache.clear()  # figures another test left in the shared cache
    sign(CustomerFactory(assigned_consultant=consultant), consultant)
    login(page, "executive")
    contracts = page.get_by_test_id("fig-sales.contracts")
    contracts.wait_for()
    assert "1" in contracts.inner_text()
    screenshot("61-executive-overview")
    contracts.click()
    page.wait_for_url("**/sales/deals/?reached=contracted*")
    page.get_by_test_id("reached-filter").wait_for()
    assert page.get_by_test_id("deal-table").locator("tbody tr").count() == 1
    page.go_back()
    page.get_by_test_id("fig-service.overdue").click()
    page.wait_for_url("**/service/requests/?view=overdue")
