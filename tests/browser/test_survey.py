from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from service import handover, surveys
from service.models import InspectionItem, ServiceRequest, SurveyInvitation
from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_customer_journey import login
from tests.factories import make_building
from tests.service.conftest import closed_request, sell

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def test_owner_answers_a_survey_on_a_phone_without_logging_in(
    browser,
    live_server,
    page,
    screenshot,
    service_agent,
    service_manager,
    owner_customer,
):
    request = closed_request(service_agent, owner_customer)
    invitation = SurveyInvitation.objects.get(request=request)
    url = reverse("service:survey-answer", args=[surveys.survey_token(invitation)])
    context = browser.new_context(
        base_url=live_server.url, locale="zh-CN", viewport=PHONE, is_mobile=True
    )
    phone = context.new_page()
    phone.set_default_timeout(10_000)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        phone.goto(url)
        assert phone.locator("html").get_attribute("lang") == "zh-hans"
        form = phone.get_by_test_id("survey-form")
        for n, fieldset in enumerate(form.locator("fieldset").all()):
            fieldset.locator("label", has_text=str(5 - n % 2)).click()
        phone.locator("textarea").fill("维修师傅上门很及时")
        phone.screenshot(path=str(SCREENSHOTS / "60-survey-phone.png"), full_page=True)
        phone.locator("button[type=submit]").click()
        phone.get_by_test_id("message-thanks").wait_for()
        phone.screenshot(path=str(SCREENSHOTS / "61-survey-thanks.png"))
        phone.goto(url)
        phone.get_by_test_id("message-answered").wait_for()
        tampered = url[:-2] + ("xx/" if not url.endswith("xx/") else "yy/")
        phone.goto(tampered)
        phone.get_by_test_id("message-invalid").wait_for()
        phone.screenshot(path=str(SCREENSHOTS / "62-survey-invalid.png"))
    finally:
        context.close()
    invitation.refresh_from_db()
    assert invitation.answered_at is not None
    assert invitation.response.comment == "维修师傅上门很及时"
    # The first question was scored 5, the second 4, the third 5.
    assert invitation.response.answers.count() == 3
    login(page, "service_manager")
    page.goto(reverse("service:survey-results"))
    page.get_by_test_id("survey-comments").get_by_text("维修师傅上门很及时").wait_for()
    assert page.get_by_test_id("overall-index").inner_text() == str(
        invitation.response.index
    )
    screenshot("65-satisfaction-results")


def _batch_with_one_owner(manager, consultant):
    building = make_building(floors=2, per_floor=2, skipped=())
    deal = sell(building.units.order_by("floor", "position").first(), consultant)
    today = timezone.localdate()
    batch = handover.batch_create(
        actor=manager,
        building=building,
        name="一期交房",
        starts_on=today,
        ends_on=today + timedelta(days=7),
    )
    return batch, deal


def test_agent_inspects_a_unit_and_turns_its_defects_into_repair_requests(
    page, screenshot, service_agent, service_manager, consultant
):
    batch, deal = _batch_with_one_owner(service_manager, consultant)
    handover.batch_invite(actor=service_manager, batch=batch)
    appointment = batch.appointments.get()
    login(page, "service_agent")
    page.goto(reverse("service:handover-detail", args=[batch.pk]))
    page.get_by_test_id("appointment-table").get_by_role("link").first.click()
    page.get_by_role("button", name="开始验房").or_(
        page.get_by_role("button", name="Start the inspection")
    ).click()
    items = page.get_by_test_id("inspection-item")
    items.first.wait_for()
    count = items.count()
    for n in range(count):
        item = items.nth(n)
        value = "defect" if n in (0, 6) else "pass"
        item.locator(f"input[type=radio][value={value}]").check()
        if value == "defect":
            item.locator("input[type=text]").fill(
                "门框有划痕" if n == 0 else "地漏反味"
            )
    page.get_by_test_id("inspection-form").locator("button[type=submit]").click()
    page.get_by_test_id("defects-to-requests").click()
    page.get_by_test_id("item-request").first.wait_for()
    screenshot("63-inspection-defects-to-requests")
    assert page.get_by_test_id("item-request").count() == 2
    assert page.get_by_test_id("defects-to-requests").is_disabled()
    page.get_by_test_id("complete-handover").click()
    page.get_by_test_id("appointment-status").wait_for()
    screenshot("64-handed-over")
    requests = ServiceRequest.objects.filter(kind="repair", unit=deal.unit)
    assert requests.count() == 2
    assert set(
        InspectionItem.objects.filter(repair_request__isnull=False).values_list(
            "repair_request_id", flat=True
        )
    ) == set(requests.values_list("pk", flat=True))
    appointment.refresh_from_db()
    assert appointment.status == "handed_over"


def test_owner_books_the_handover_on_a_phone_from_the_invitation_link(
    browser, live_server, service_manager, consultant
):
    batch, _deal = _batch_with_one_owner(service_manager, consultant)
    today = batch.starts_on
    for day in (2, 3):
        handover.slot_add(
            actor=service_manager,
            batch=batch,
            day=today + timedelta(days=day),
            starts_at=time(9),
            ends_at=time(12),
            capacity=5,
        )
    handover.batch_invite(actor=service_manager, batch=batch)
    appointment = batch.appointments.get()
    context = browser.new_context(
        base_url=live_server.url, locale="zh-CN", viewport=PHONE, is_mobile=True
    )
    phone = context.new_page()
    phone.set_default_timeout(10_000)
    try:
        phone.goto(
            reverse(
                "service:handover-booking", args=[handover.booking_token(appointment)]
            )
        )
        form = phone.get_by_test_id("booking-form")
        form.locator("label").nth(1).click()
        phone.screenshot(path=str(SCREENSHOTS / "66-booking-phone.png"), full_page=True)
        form.locator("button[type=submit]").click()
        phone.get_by_test_id("message-booked").wait_for()
        phone.screenshot(path=str(SCREENSHOTS / "67-booked.png"))
    finally:
        context.close()
    appointment.refresh_from_db()
    assert appointment.status == "booked"
    assert appointment.slot.day == today + timedelta(days=3)
