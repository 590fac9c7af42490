"""The owner's whole journey in one sitting on a phone (390×844), as issue 14 tells
it: sign in with the code from the SMS log, see the home and the payments, report a
repair with a photo, which an agent accepts and resolves at the desk, confirm and rate
the fix, recommend a friend and sign up for a club event. Each step's details are
tested in test_portal.py, test_portal_repairs.py and test_portal_club.py; this test
proves they hold together for one owner."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from marketing import services as marketing
from marketing.models import CampaignMember, ClubLevel, Referral, Response
from marketing.services.club import members_enrol, points_correct
from sales.services import opportunity_contract
from service.models import ServiceRequest
from tests.browser.conftest import SCREENSHOTS
from tests.browser.portal import phone_page, sign_in_owner
from tests.browser.test_customer_journey import login
from tests.browser.test_portal_repairs import photo_png

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_owner_signs_in_reports_a_repair_rates_it_recommends_and_signs_up(
    browser,
    live_server,
    page,
    settings,
    tmp_path,
    caplog,
    owner_household,
    consultant,
    service_agent,
    marketer,
):
    settings.MEDIA_ROOT = tmp_path / "media"
    photo = tmp_path / "crack.png"
    photo.write_bytes(photo_png())
    owner = owner_household.buyer
    deal = opportunity_contract(actor=consultant, opportunity=owner_household.deal)
    silver = ClubLevel.objects.create(name="银卡", min_points=0, benefits="免费洗车")
    members_enrol()
    points_correct(actor=marketer, member=owner, points=100, reason="开卡礼")
    today = timezone.localdate()
    campaign = marketing.campaign_create(
        actor=marketer,
        name="业主答谢会",
        kind="event",
        project=deal.project,
        starts_on=today + timedelta(days=7),
        ends_on=today + timedelta(days=7),
        message="周日上午十点，售楼处",
        min_level=silver,
    )
    marketing.campaign_move(actor=marketer, campaign=campaign, status="running")
    member = CampaignMember.objects.create(campaign=campaign, customer=owner)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    context, phone, violations = phone_page(browser, live_server)
    try:
        # Sign in; the home and the payments.
        sign_in_owner(phone, "138 1234 0001", caplog)
        phone.goto("/portal/sales/homes/")
        expect(phone.get_by_test_id("portal-home").first).to_contain_text(
            owner_household.unit.number
        )
        phone.goto("/portal/sales/payments/")
        expect(phone.get_by_test_id("portal-payments")).to_contain_text("¥50,000.00")

        # A repair with a photo.
        phone.goto("/portal/service/requests/")
        phone.get_by_test_id("new-request").click()
        form = phone.get_by_test_id("portal-request-form")
        form.locator("#id_category").select_option("plumbing")
        form.locator("#id_description").fill("厨房水槽下方漏水")
        form.locator("#id_photos").set_input_files(str(photo))
        form.locator("button[type=submit]").click()
        phone.wait_for_url("**/portal/service/requests/*/")
        request = ServiceRequest.objects.get(customer=owner)
        assert request.channel == "portal" and request.photos.count() == 1

        # The desk accepts and resolves it.
        login(page, "service_agent")
        page.goto(f"/service/requests/{request.pk}/")
        page.get_by_test_id("accept-button").click()
        expect(page.get_by_test_id("receiver")).to_contain_text(
            service_agent.display_name
        )
        assign = page.get_by_test_id("assign-form")
        assign.locator("#id_department").select_option("engineering")
        assign.locator("button[type=submit]").click()
        page.get_by_role("button", name="开始处理").click()
        resolve = page.get_by_test_id("resolve-form")
        resolve.locator("#id_note").fill("已更换水槽下水管")
        resolve.locator("button[type=submit]").click()
        request.refresh_from_db()
        assert request.status == "resolved"

        # The owner confirms the fix and rates it.
        phone.goto(f"/portal/service/requests/{request.pk}/")
        phone.get_by_test_id("portal-confirm").click()
        rating = phone.get_by_test_id("portal-rating")
        for group in rating.locator(".portal-scale").all():
            group.locator("label").last.click()
        phone.get_by_test_id("portal-rate").click()
        expect(phone.get_by_test_id("portal-rated")).to_be_visible()
        request.refresh_from_db()
        assert request.status == "closed" and request.satisfied is True

        # A friend recommended, and the club event signed up for.
        phone.goto("/portal/marketing/recommend/")
        form = phone.get_by_test_id("recommend-form")
        form.locator("input[name=friend_name]").fill("郑朋友")
        form.locator("input[name=friend_mobile]").fill("139 0013 9001")
        form.locator("input[name=friend_agreed]").check()
        form.locator("button[type=submit]").click()
        expect(phone.get_by_test_id("recommendation").first).to_contain_text("郑朋友")
        assert Referral.objects.get().referrer == owner
        phone.goto("/portal/marketing/club/")
        phone.get_by_test_id("club-event-sign-up").click()
        expect(phone.get_by_test_id("club-event-signed-up")).to_be_visible()
        assert Response.objects.get(member=member).kind == Response.Kind.SIGNUP
        phone.screenshot(
            path=str(SCREENSHOTS / "99-portal-journey-club.png"), full_page=True
        )
        assert phone.locator("body").evaluate("b => b.scrollWidth") <= 390
    finally:
        context.close()
    assert violations == []
