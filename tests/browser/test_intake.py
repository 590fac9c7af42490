"""One-stop intake in the browser: a consultant takes an owner's call and records it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from customers.models import Customer
from sales.models import Opportunity
from service.models import ServiceRequest
from tests.browser.test_customer_journey import login
from tests.factories import CustomerFactory, make_building

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_a_consultant_records_a_repair_for_an_owner_of_two_units_picking_one(
    page, screenshot, consultant, other_consultant, language
):
    building = make_building(floors=2, per_floor=2, skipped=())
    first, second = list(building.units.order_by("floor", "position"))[:2]
    # Another consultant's owner: the caller is found by the number all the same.
    owner = CustomerFactory(
        name="周大福",
        mobile="+8613512345678",
        stage=Customer.Stage.OWNER,
        assigned_consultant=other_consultant,
    )
    for unit in (first, second):
        Opportunity.objects.create(
            customer=owner,
            project=building.project,
            unit=unit,
            consultant=other_consultant,
            stage=Opportunity.Stage.CONTRACTED,
        )

    login(page, "consultant")
    if language == "en":
        with page.expect_navigation():
            page.locator("#language-select").select_option("en")
    # The menu item every call-taking role has (its label: 登记工单 / New request).
    page.locator("#main-nav a[href='/service/requests/new/']").click()
    page.wait_for_url("**/service/requests/new/")

    page.locator("#id_mobile").fill("135 1234 5678")
    match = page.get_by_test_id("caller-match")
    expect(match).to_have_count(1)
    expect(match).to_contain_text("周大福")
    expect(match).to_contain_text("135****5678")  # another consultant's customer
    units = page.get_by_test_id("caller-units")
    expect(units.locator("input[name=unit]")).to_have_count(2)
    expect(page.locator("input[name=customer]")).to_be_checked()
    page.locator(f"#unit-{second.pk}").check()
    page.locator("#id_kind").select_option("repair")
    page.locator("#id_category").select_option("plumbing")
    page.locator("#id_description").fill("主卧卫生间地漏返水")
    screenshot(f"50-intake-owner-two-units-{language}")

    page.get_by_test_id("request-form").locator("button[type=submit]").click()
    page.wait_for_url("**/service/requests/*/")
    request = ServiceRequest.objects.get()
    assert (request.customer, request.unit, request.kind, request.receiver) == (
        owner,
        second,
        "repair",
        consultant,
    )
    expect(page.locator(".alert-success, .alert-info").first).to_contain_text(
        request.number
    )
    expect(page.get_by_test_id("receiver")).to_have_text(consultant.display_name)
    expect(page.get_by_test_id("request-next")).to_be_visible()
    screenshot(f"51-intake-recorded-{language}")
