"""An owner on a phone (390×844): signs in with the code from the SMS log, sees the
home and its handover, the payments, and books a handover time."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.utils import timezone

from sales.services import opportunity_contract
from service import handover
from service.models import HandoverAppointment
from tests.browser.conftest import SCREENSHOTS
from tests.browser.portal import phone_page, sign_in_owner

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_owner_signs_in_on_a_phone_and_sees_the_home_and_the_payments(
    browser, live_server, caplog, owner_household, consultant, service_manager
):
    opportunity_contract(actor=consultant, opportunity=owner_household.deal)
    today = timezone.localdate()
    batch = handover.batch_create(
        actor=service_manager,
        building=owner_household.unit.building,
        name="一期交房",
        starts_on=today,
        ends_on=today + timedelta(days=14),
    )
    slot = handover.slot_add(
        actor=service_manager,
        batch=batch,
        day=today + timedelta(days=3),
        starts_at=time(9),
        ends_at=time(11),
        capacity=5,
    )
    handover.batch_invite(actor=service_manager, batch=batch)
    context, page, violations = phone_page(browser, live_server)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        sign_in_owner(
            page, "138 1234 0001", caplog, remember=True, screenshot_dir=SCREENSHOTS
        )
        assert page.locator("html").get_attribute("lang") == "zh-hans"
        # On the phone, sign-out is an icon with its name kept for screen readers,
        # and a thumb-sized target.
        sign_out = page.get_by_role("button", name="退出登录")
        assert sign_out.bounding_box()["height"] >= 44
        page.screenshot(path=str(SCREENSHOTS / "90-portal-home.png"), full_page=True)
        page.get_by_test_id("portal-tabs").locator(
            "a[href='/portal/sales/homes/']"
        ).click()
        home = page.get_by_test_id("portal-home").first
        home.wait_for()
        text = home.inner_text()
        unit = owner_household.unit
        assert unit.number in text and unit.building.name in text
        assert "吴共买" in text
        page.screenshot(path=str(SCREENSHOTS / "91-portal-homes.png"), full_page=True)
        home.get_by_test_id("home-detail-link").click()
        page.get_by_test_id("handover-book").click()
        page.get_by_test_id("portal-booking-form").locator("label").first.click()
        page.get_by_test_id("portal-booking-form").locator(
            "button[type=submit]"
        ).click()
        page.get_by_test_id("handover-slot").wait_for()
        assert "09:00" in page.get_by_test_id("handover-slot").inner_text()
        page.screenshot(
            path=str(SCREENSHOTS / "92-portal-home-booked.png"), full_page=True
        )
        page.get_by_test_id("portal-tabs").locator(
            "a[href='/portal/sales/payments/']"
        ).click()
        payments = page.get_by_test_id("portal-payments")
        payments.wait_for()
        assert "¥50,000.00" in payments.inner_text()
        assert page.get_by_test_id("overdue").is_visible()
        # What to do about it, and whom to ask.
        help_text = page.get_by_test_id("overdue-help").inner_text()
        assert owner_household.deal.consultant.display_name in help_text
        assert page.locator("body").evaluate("b => b.scrollWidth") <= 390
        page.screenshot(
            path=str(SCREENSHOTS / "93-portal-payments.png"), full_page=True
        )
    finally:
        context.close()
    assert violations == []
    appointment = HandoverAppointment.objects.get(unit=owner_household.unit)
    assert appointment.slot == slot
