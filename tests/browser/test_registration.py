from __future__ import annotations

import pytest

from customers.models import Customer, Interaction
from tests.browser.test_customer_journey import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_walk_in_registration_by_keyboard_creates_a_customer_and_logs_the_visit(
    page, screenshot, consultant
):
    login(page, "consultant")
    page.goto("/customers/register/")
    # The phone field has the focus (autofocus); waiting for it keeps the test from
    # typing before the browser has applied it. From here on: keyboard only.
    mobile = page.locator("#id_mobile")
    assert mobile.get_attribute("autofocus") is not None
    mobile.focus()
    page.keyboard.type("186 2222 3333")
    page.get_by_test_id("lookup-result").get_by_text("新号码").wait_for()
    page.keyboard.press("Tab")
    page.keyboard.type("周芷若")
    page.locator("#id_summary").fill("首次到访，看三居室")
    page.locator("#id_summary").press("Enter")
    page.wait_for_url("**/customers/*/")
    customer = Customer.objects.get(mobile="+8618622223333")
    assert customer.name == "周芷若"
    assert customer.assigned_consultant == consultant
    visit = Interaction.objects.get(customer=customer)
    assert visit.kind == "visit" and visit.summary == "首次到访，看三居室"
    assert "首次到访" in page.get_by_test_id("timeline").inner_text()
    screenshot("10-walk-in-registered")


def test_registration_shows_the_existing_customer_and_logs_on_that_record(
    page, screenshot, consultant, own_customer
):
    login(page, "consultant")
    page.goto("/customers/register/")
    page.locator("#id_mobile").focus()
    page.keyboard.type("+86 138-0013-8000")
    hint = page.get_by_test_id("lookup-result")
    hint.get_by_text("张三").wait_for()
    screenshot("11-duplicate-hint")
    page.locator("input[name=kind][value=call_in]").check()
    page.locator("#id_summary").fill("来电问价格")
    page.locator("#id_summary").press("Enter")
    page.wait_for_url(f"**/customers/{own_customer.pk}/")
    assert Customer.objects.count() == 1
    call = Interaction.objects.get(customer=own_customer)
    assert call.kind == "call_in" and call.created_by == consultant
    screenshot("12-logged-on-existing")


def test_quick_log_on_the_customer_page_updates_the_timeline_in_place(
    page, consultant, own_customer
):
    login(page, "consultant")
    page.goto(f"/customers/{own_customer.pk}/")
    form = page.get_by_test_id("quick-log")
    form.locator("select[name=kind]").select_option("wechat")
    form.locator("textarea[name=summary]").fill("微信发送户型图")
    form.locator("button[type=submit]").click()
    page.get_by_test_id("timeline").get_by_text("微信发送户型图").wait_for()
    assert Interaction.objects.filter(customer=own_customer, kind="wechat").count() == 1
    # htmx swapped the fragment: the page itself was not reloaded.
    assert page.url.endswith(f"/customers/{own_customer.pk}/")
