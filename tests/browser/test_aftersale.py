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


def test_a_manager_writes_off_the_clawback_of_a_consultant_who_left(
    page, screenshot, consultant, sales_manager
):
    from sales.models import Commission
    from tests.sales.test_commission import percent_rule
    from tests.sales.test_commission_waive import clawback_line

    building = make_building()
    percent_rule(building.project)
    line = clawback_line(building, consultant, 0, sales_manager)
    consultant.is_active = False
    consultant.save(update_fields=["is_active"])

    login(page, "sales_manager")
    page.goto("/sales/commissions/")
    row = page.get_by_test_id("commission-row").filter(
        has=page.get_by_test_id("waive-commission")
    )
    expect(row.get_by_test_id("consultant-left")).to_have_text("已离职")
    # A reason of spaces passes the browser's "required": the list comes back with
    # the error next to this line's reason.
    row.locator("input[name=reason]").fill("   ")
    row.get_by_test_id("waive-commission").click()
    with page.expect_navigation():
        page.locator("dialog[open]").get_by_test_id("confirm-ok").click()
    expect(row.get_by_test_id("waive-error")).to_be_visible()
    expect(row.get_by_test_id("waive-error")).to_contain_text("核销")
    screenshot("aftersale-05a-write-off-reason-missing")
    row.locator("input[name=reason]").fill("顾问已离职，无法从结算中扣回")
    row.get_by_test_id("waive-commission").click()
    dialog = page.locator("dialog[open]")
    expect(dialog).to_contain_text("核销这笔追回佣金？")
    expect(dialog).to_contain_text("（已离职）")
    screenshot("aftersale-05-write-off-dialog")
    with page.expect_navigation():
        dialog.get_by_test_id("confirm-ok").click()
    expect(page.locator(".alert-success")).to_contain_text("已核销")
    expect(page.get_by_test_id("waive-reason")).to_have_text(
        "顾问已离职，无法从结算中扣回"
    )
    screenshot("aftersale-06-written-off")
    line.refresh_from_db()
    assert line.status == Commission.Status.WAIVED
