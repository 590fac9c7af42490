"""An owner on a phone (390×844), signed in with the code from the SMS log,
recommends a friend and signs up for a club event, in Chinese."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from marketing import services
from marketing.models import CampaignMember, ClubLevel, Referral, Response
from marketing.services.club import members_enrol, points_correct
from sales.services import opportunity_contract
from tests.browser.conftest import SCREENSHOTS
from tests.browser.portal import phone_page, sign_in_owner

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_owner_recommends_a_friend_and_signs_up_for_a_club_event(
    browser, live_server, caplog, owner_household, consultant, marketer
):
    owner = owner_household.buyer
    deal = opportunity_contract(actor=consultant, opportunity=owner_household.deal)
    ClubLevel.objects.create(name="普卡", min_points=0, benefits="生日礼")
    silver = ClubLevel.objects.create(
        name="银卡", min_points=100, benefits="免费洗车\n物业费九五折"
    )
    members_enrol()
    points_correct(actor=marketer, member=owner, points=150, reason="开卡礼")
    campaign = services.campaign_create(
        actor=marketer,
        name="银卡会员品酒会",
        kind="event",
        project=deal.project,
        starts_on=timezone.localdate() + timedelta(days=5),
        ends_on=timezone.localdate() + timedelta(days=5),
        message="周六下午三点，会所二楼",
        min_level=silver,
    )
    services.campaign_move(actor=marketer, campaign=campaign, status="running")
    member = CampaignMember.objects.create(campaign=campaign, customer=owner)
    context, page, violations = phone_page(browser, live_server)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        sign_in_owner(page, "138 1234 0001", caplog)
        page.goto("/portal/marketing/recommend/")
        form = page.get_by_test_id("recommend-form")
        form.locator("input[name=friend_name]").fill("陈朋友")
        form.locator("input[name=friend_mobile]").fill("139 0013 9000")
        form.locator("input[name=friend_agreed]").check()
        page.screenshot(
            path=str(SCREENSHOTS / "95-portal-recommend-form.png"), full_page=True
        )
        form.locator("button[type=submit]").click()
        row = page.get_by_test_id("recommendation").first
        row.wait_for()
        assert "陈朋友" in row.inner_text()
        # The first step (received) of four, and no reward yet.
        assert row.get_by_role("progressbar").get_attribute("aria-valuenow") == "1"
        assert "¥" not in row.get_by_test_id("recommendation-reward").inner_text()
        assert page.locator("body").evaluate("b => b.scrollWidth") <= 390
        page.screenshot(
            path=str(SCREENSHOTS / "96-portal-recommended.png"), full_page=True
        )
        assert Referral.objects.get().referrer == owner

        page.goto("/portal/marketing/club/")
        assert page.get_by_test_id("club-level").inner_text() == "银卡"
        assert page.get_by_test_id("club-points").inner_text() == "150"
        event = page.get_by_test_id("club-event")
        assert "银卡会员品酒会" in event.inner_text()
        page.screenshot(path=str(SCREENSHOTS / "97-portal-club.png"), full_page=True)
        event.get_by_test_id("club-event-sign-up").click()
        signed = page.get_by_test_id("club-event-signed-up")
        signed.wait_for()
        assert member.code_display in signed.inner_text()
        assert page.locator("body").evaluate("b => b.scrollWidth") <= 390
        page.screenshot(
            path=str(SCREENSHOTS / "98-portal-club-signed-up.png"), full_page=True
        )
        assert Response.objects.get(member=member).kind == Response.Kind.SIGNUP
        assert violations == []
    finally:
        context.close()


@pytest.mark.django_db(transaction=True)
def test_marketing_corrects_a_members_points_on_the_ledger_page(
    page, screenshot, marketer
):
    from customers.models import Customer
    from tests.browser.test_customer_journey import login
    from tests.factories import CustomerFactory

    ClubLevel.objects.create(name="普卡", min_points=0)
    ClubLevel.objects.create(name="银卡", min_points=100)
    owner = CustomerFactory(name="林业主", stage=Customer.Stage.OWNER, consent_sms=True)
    members_enrol()
    points_correct(actor=marketer, member=owner, points=80, reason="开卡礼")
    login(page, "marketer")
    page.goto("/marketing/club/")
    table = page.get_by_test_id("club-member-table")
    assert "林业主" in table.inner_text()
    screenshot("94-club-members")
    table.get_by_role("link", name="林业主").click()
    form = page.get_by_test_id("club-correct-form")
    form.locator("input[name=points]").fill("40")
    form.locator("input[name=reason]").fill("活动积分补发")
    form.locator("button[type=submit]").click()
    page.get_by_test_id("club-balance").wait_for()
    assert "120" in page.get_by_test_id("club-balance").inner_text()
    assert "活动积分补发" in page.get_by_test_id("club-ledger").inner_text()
    screenshot("94-club-ledger")
