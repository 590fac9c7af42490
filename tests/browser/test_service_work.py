from __future__ import annotations

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from service import services
from service.models import Contractor, WorkOrder
from tests.browser.test_customer_journey import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
    b"\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01"
    b"\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


def test_agent_hands_a_leak_to_a_contractor_signs_it_off_and_the_manager_sees_it(
    page, screenshot, service_agent, service_manager, owner_customer, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    cache.clear()
    contractor = Contractor.objects.create(
        name="安居防水工程", trade="防水", warranty_months=60
    )
    leak = services.request_create(
        actor=service_agent,
        customer=owner_customer,
        kind="repair",
        category="plumbing",
        severity="high",
        channel="phone",
        description="卫生间天花板漏水",
    )
    login(page, "service_agent")
    page.goto(leak.get_absolute_url())
    form = page.get_by_test_id("work-order-form")
    form.locator("#id_task").fill("重做卫生间防水层")
    form.locator("#id_assignee_kind").select_option("contractor")
    form.locator("#id_contractor").select_option(str(contractor.pk))
    form.locator("#id_appointment_at").fill("2030-01-02T09:30")
    form.locator("#id_cost").fill("3200")
    form.locator("button[type=submit]").click()
    page.get_by_test_id("work-order").first.wait_for()
    screenshot("50-work-order-created")

    work = page.get_by_test_id("work-order").first
    work.locator("summary").click()
    signoff = work.get_by_test_id("signoff-form")
    signoff.locator("#id_note").fill("闭水试验通过，业主签字确认")
    signoff.locator("#id_photo").set_input_files(
        {"name": "site.png", "mimeType": "image/png", "buffer": PNG}
    )
    signoff.locator("button[type=submit]").click()
    page.get_by_test_id("work-order").first.get_by_role("link", name="photo").or_(
        page.get_by_test_id("work-order").first.get_by_role("link", name="照片")
    ).wait_for()
    screenshot("51-work-order-signed-off")
    order = WorkOrder.objects.get()
    assert order.status == "done" and order.signoff_photo
    # The steps are stored as events and written in the reader's language.
    steps = page.get_by_test_id("steps")
    expect(steps).to_contain_text(
        f"派工单 WO{order.pk} 派给 安居防水工程：重做卫生间防水层"
    )
    expect(steps).to_contain_text("闭水试验通过，业主签字确认")
    steps.scroll_into_view_if_needed()
    screenshot("51b-work-order-steps")
    leak.refresh_from_db()
    assert leak.receiver == service_agent and leak.department == "contractor"

    page.context.clear_cookies()
    login(page, "service_manager")
    page.goto("/service/")
    page.get_by_test_id("service-dashboard-link").click()
    ranking = page.get_by_test_id("contractor-ranking")
    ranking.get_by_role("link", name="安居防水工程").wait_for()
    assert "100" in ranking.inner_text()
    screenshot("52-service-dashboard")
