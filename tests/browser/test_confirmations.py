"""High-impact actions ask first, in a dialog that names what will happen: the
subscription's unit and amounts, the number of invitations and their recipients.
Going back does nothing; confirming acts and the message says what changed."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from marketing import services as marketing_services
from marketing.models import Campaign, Invitation, Segment
from sales import services
from sales.models import Opportunity
from tests.browser.test_customer_journey import login
from tests.factories import CustomerFactory, make_building
from tests.marketing.conftest import make_campaign

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _switch_language(page, code: str) -> None:
    with page.expect_navigation():
        page.locator("#language-select").select_option(code)


def test_consultant_is_asked_before_subscribing_in_english_and_chinese(
    page, screenshot, consultant, own_customer
):
    building = make_building()
    deal = services.opportunity_open(
        actor=consultant, customer=own_customer, project=building.project
    )
    unit = building.units.order_by("floor", "position").first()
    services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    services.discount_request(
        actor=consultant, opportunity=deal, percent=Decimal("2"), reason="老带新"
    )

    login(page, "consultant")
    _switch_language(page, "en")
    page.goto(f"/sales/deals/{deal.pk}/")
    page.get_by_test_id("subscribe").click()
    dialog = page.locator("dialog[open]")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(f"Record the subscription of unit {unit.number}?")
    expect(dialog).to_contain_text(own_customer.name)
    expect(dialog).to_contain_text("¥3,000,000.00")
    expect(dialog).to_contain_text("2% (−¥60,000.00)")
    expect(dialog).to_contain_text("¥2,940,000.00")
    screenshot("90-confirm-subscribe-en")
    dialog.get_by_test_id("confirm-cancel").click()
    expect(page.locator("dialog[open]")).to_have_count(0)
    deal.refresh_from_db()
    assert deal.stage == Opportunity.Stage.RESERVED

    _switch_language(page, "zh-hans")
    page.get_by_test_id("subscribe").click()
    dialog = page.locator("dialog[open]")
    expect(dialog).to_contain_text(unit.number)
    expect(dialog).to_contain_text("¥2,940,000.00")
    screenshot("91-confirm-subscribe-zh")
    with page.expect_navigation():
        dialog.get_by_test_id("confirm-ok").click()
    alert = page.locator(".alert-success")
    expect(alert).to_contain_text(str(unit))
    expect(alert).to_contain_text("¥2,940,000.00")
    screenshot("92-subscribed-zh")
    deal.refresh_from_db()
    assert deal.stage == Opportunity.Stage.SUBSCRIBED
    assert deal.agreed_price == Decimal("2940000")


def test_marketer_is_asked_before_sending_invitations_in_chinese_and_english(
    page, screenshot, marketer, team
):
    building = make_building()
    building.project.teams.add(team)
    for i in range(3):
        CustomerFactory(
            name=f"客户{i}", email=f"guest{i}@example.com", consent_email=True
        )
    # Consented to nothing a campaign uses: a member of no campaign.
    CustomerFactory(consent_sms=False)
    segment = Segment.objects.create(name="意向客户", criteria={"stage": "prospect"})
    campaign = make_campaign(marketer, building.project, segment)
    marketing_services.campaign_move(
        actor=marketer, campaign=campaign, status=Campaign.Status.RUNNING
    )

    login(page, "marketer")
    page.goto(f"/marketing/campaigns/{campaign.pk}/")
    page.get_by_test_id("send-invitations").click()
    dialog = page.locator("dialog[open]")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    # Six messages (an e-mail and an SMS each) to three customers.
    expect(dialog.locator("h2")).to_contain_text("6")
    expect(dialog.get_by_test_id("confirm-facts")).to_contain_text("3")
    screenshot("93-confirm-send-zh")
    dialog.get_by_test_id("confirm-cancel").click()
    expect(page.locator("dialog[open]")).to_have_count(0)
    assert not Invitation.objects.exists()

    _switch_language(page, "en")
    page.get_by_test_id("send-invitations").click()
    dialog = page.locator("dialog[open]")
    expect(dialog).to_contain_text("Send 6 invitations?")
    expect(dialog).to_contain_text("Customers who receive it")
    screenshot("94-confirm-send-en")
    with page.expect_navigation():
        dialog.get_by_test_id("confirm-ok").click()
    expect(page.locator(".alert-success")).to_contain_text(
        "6 invitations queued for 3 customers"
    )
    screenshot("95-invitations-queued-en")
    assert Invitation.objects.filter(campaign=campaign).count() == 6
