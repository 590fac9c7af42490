from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from crm_site import messaging
from service import surveys
from service.models import ServiceRequest, SurveyResponse
from tests.browser.test_customer_journey import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_complaint_from_a_call_is_handed_over_resolved_called_back_and_surveyed(
    browser,
    live_server,
    page,
    screenshot,
    settings,
    service_agent,
    service_manager,
    owner_customer,
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
    page.get_by_test_id("close-request").click()
    # Closing asks first, naming the owner and the survey that follows.
    dialog = page.locator("dialog[open]")
    expect(dialog).to_contain_text(owner_customer.name)
    screenshot("41a-confirm-close")
    dialog.get_by_test_id("confirm-ok").click()
    page.get_by_test_id("request-status").filter(has_text="已关闭").wait_for()
    screenshot("41-request-closed")
    request = ServiceRequest.objects.get()
    assert (
        request.status == "closed"
        and request.receiver == service_agent
        and request.satisfied
    )

    # The closed request's survey goes out by SMS (the owner's preferred channel) with a
    # signed link; the owner answers it on their phone, without logging in.
    settings.SMS_BACKEND = "crm_site.messaging.LocMemSmsBackend"
    messaging.sms_outbox.clear()
    assert surveys.invitations_send_due() == 1
    (sms,) = messaging.sms_outbox
    link = re.search(r"https?://\S+", sms.text).group(0)
    path = urlsplit(link).path
    phone = browser.new_context(
        base_url=live_server.url,
        locale="zh-CN",
        viewport={"width": 390, "height": 844},
        is_mobile=True,
    ).new_page()
    phone.goto(path)
    for fieldset in phone.get_by_test_id("survey-form").locator("fieldset").all():
        fieldset.locator("label", has_text="5").click()
    phone.locator("button[type=submit]").click()
    phone.get_by_test_id("message-thanks").wait_for()
    phone.context.close()
    response = SurveyResponse.objects.get(customer=owner_customer)
    assert response.index == 100
    assert owner_customer.interactions.filter(kind="survey").exists()
