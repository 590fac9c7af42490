"""A cancellation after contract, in Chinese: the consultant asks, the sales manager
sees the refund under the project's rule before approving, and the deal shows it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from sales.models import ChangeRule, DealRefund, Opportunity, Unit
from tests.browser.test_customer_journey import login
from tests.factories import make_building
from tests.sales.test_changes_after_contract import signed_deal

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_cancellation_after_contract_is_asked_approved_with_the_refund_shown(
    page, screenshot, consultant, sales_manager, own_customer
):
    building = make_building()
    ChangeRule.objects.create(
        project=building.project,
        forfeit_basis="fixed",
        forfeit_contracted=Decimal("20000"),
    )
    deal = signed_deal(consultant, own_customer, building.units.order_by("pk").first())

    login(page, "consultant")
    page.goto(f"/sales/deals/{deal.pk}/")
    form = page.get_by_test_id("change-form")
    form.locator("select[name=kind]").select_option("cancel")
    form.locator("input[name=reason]").fill("客户资金问题，申请退房")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    expect(page.get_by_test_id("deal-changes")).to_contain_text("客户资金问题")
    screenshot("aftersale-01-asked")

    page.context.clear_cookies()
    login(page, "sales_manager")
    page.goto("/sales/approvals/")
    card = page.get_by_test_id("change-approvals").get_by_test_id("approval-item")
    expect(card.get_by_test_id("change-refund")).to_have_text("¥80,000.00")
    expect(card.get_by_test_id("change-forfeit")).to_have_text("¥20,000.00")
    card.locator("button[value=approve]").click()
    dialog = page.locator("dialog[open]")
    expect(dialog).to_contain_text("¥80,000.00")
    expect(dialog).to_contain_text("¥20,000.00")
    screenshot("aftersale-02-approve-dialog")
    with page.expect_navigation():
        dialog.get_by_test_id("confirm-ok").click()
    expect(page.locator(".alert-success")).to_contain_text("¥80,000.00")
    screenshot("aftersale-03-approved")

    page.goto(f"/sales/deals/{deal.pk}/")
    expect(page.get_by_test_id("deal-refund")).to_contain_text("¥80,000.00")
    screenshot("aftersale-04-deal")
    deal.refresh_from_db()
    assert deal.stage == Opportunity.Stage.LOST
    assert Unit.objects.get(pk=deal.unit_id).status == Unit.Status.AVAILABLE
    assert DealRefund.objects.get(opportunity=deal).amount == Decimal("80000")
