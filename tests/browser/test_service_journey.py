from __future__ import annotations

import pytest

from service.models import ServiceRequest
from tests.browser.test_customer_journey import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_complaint_from_a_call_is_handed_over_resolved_and_called_back(
    page, screenshot, service_agent, service_manager, owner_customer
):
    login(page, "service_agent")
    page.goto("/service/requests/new/")
    form = page.get_by_test_id("request-form")
    form.locator("#id_mobile").fill("136 0013 6000")
    form.locator("#id_kind").select_option("complaint")
    form.locator("#id_category").select_option("plumbing")
    form.locator("#id_description").fill("卫生间天花板漏水，楼上业主不在家")
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/service/requests/*/")
    screenshot("40-request-recorded")

    assign = page.get_by_test_id("assign-form")
    assign.locator("#id_department").select_option("engineering")
    assign.locator("button[type=submit]").click()
    page.get_by_role("button", name="开始处理").click()
    resolve = page.get_by_test_id("resolve-form")
    resolve.locator("#id_note").fill("已联系楼上业主，更换防水层")
    resolve.locator("button[type=submit]").click()
    callback = page.get_by_test_id("callback-form")
    callback.locator("input[name=satisfied][value='1']").check()
    callback.locator("#id_note").fill("业主表示满意")
    callback.locator("button[type=submit]").click()
    page.get_by_role("button", name="关闭工单").click()
    page.get_by_test_id("request-status").filter(has_text="已关闭").wait_for()
    screenshot("41-request-closed")
    request = ServiceRequest.objects.get()
    assert (
        request.status == "closed"
        and request.receiver == service_agent
        and request.satisfied
    )
