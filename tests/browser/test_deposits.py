"""Taking a deposit of intent (认筹) at the sales office, in Chinese."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from sales.models import IntentDeposit
from tests.browser.test_customer_journey import login
from tests.factories import CustomerFactory
from tests.opening_fixtures import opening_project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_consultant_finds_the_buyer_and_takes_a_deposit_with_a_queue_number(
    page, screenshot, consultant
):
    project, _units = opening_project()
    CustomerFactory(
        name="欧阳明轩", mobile="+8613800138123", assigned_consultant=consultant
    )
    login(page, "consultant")
    page.goto(f"/sales/projects/{project.pk}/deposits/")
    page.get_by_test_id("deposit-take").click()
    page.locator("#buyer-q").fill("欧阳")
    page.locator("#buyer-q").press("Enter")
    page.get_by_label("欧阳明轩", exact=False).check()
    # Forgetting the receipt number: the form says so next to the field.
    page.get_by_test_id("deposit-form").locator("button[type=submit]").click()
    expect(page.locator("#id_receipt_number.is-invalid")).to_be_visible()
    expect(page.locator("#id_paid_on.is-invalid")).to_have_count(0)
    screenshot("deposit-take-error")
    page.locator("#id_receipt_number").fill("SJ-2026-0001")
    page.get_by_test_id("deposit-form").locator("button[type=submit]").click()
    expect(page.get_by_test_id("queue-number")).to_have_text("1")
    expect(page.get_by_test_id("deposit-facts")).to_contain_text("SJ-2026-0001")
    expect(page.get_by_test_id("deposit-facts")).to_contain_text("¥50,000")
    screenshot("deposit-taken")
    deposit = IntentDeposit.objects.get()
    assert deposit.customer.name == "欧阳明轩" and deposit.queue_number == 1
    page.goto(f"/sales/projects/{project.pk}/deposits/")
    expect(page.get_by_test_id("deposit-row")).to_have_count(1)
    screenshot("deposit-list")
