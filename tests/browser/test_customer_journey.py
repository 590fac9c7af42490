from __future__ import annotations

import pytest

from customers.models import Customer
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def login(page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    # Each role lands on its own work (a service agent on a filtered queue).
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def test_consultant_logs_in_in_chinese_creates_a_customer_and_finds_it_by_phone(
    page, screenshot, consultant, own_customer
):
    login(page, "consultant")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    screenshot("01-home")

    page.get_by_role("link", name="客户", exact=True).first.click()
    page.get_by_role("link", name="新建客户").click()
    page.locator("#id_name").fill("王小明")
    page.locator("#id_mobile").fill("186 1234 5678")
    page.locator("#id_source").select_option("wechat")
    page.get_by_role("button", name="保存").click()
    page.wait_for_url("**/customers/*/")
    assert page.get_by_test_id("customer-mobile").inner_text() == "186 1234 5678"
    screenshot("02-customer-detail")
    assert (
        Customer.objects.get(mobile="+8618612345678").assigned_consultant == consultant
    )

    # A second entry of the same number, typed differently, is refused with a link.
    page.goto("/customers/new/")
    page.locator("#id_name").fill("王小明二")
    page.locator("#id_mobile").fill("+86 186-1234-5678")
    page.get_by_role("button", name="保存").click()
    error = page.locator(".invalid-feedback, .text-danger").filter(has_text="王小明")
    assert error.count() >= 1
    screenshot("03-duplicate-refused")

    page.goto("/customers/")
    page.locator("#id_q").fill("18612345678")
    page.locator("#id_q").press("Enter")
    rows = page.get_by_test_id("customer-table").locator("tbody tr")
    rows.filter(has_text="王小明").first.wait_for()
    assert rows.count() == 1
    assert "王小明" in rows.first.inner_text()
    screenshot("04-search-by-phone")


def test_language_switch_turns_the_page_english(page, consultant):
    login(page, "consultant")
    with page.expect_navigation():
        page.locator("#language-select").select_option("en")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("link", name="Customers").first.is_visible()


@pytest.mark.parametrize(
    "path", ["/customers/register/", "/customers/new/", "/service/requests/new/"]
)
def test_the_intake_forms_fit_a_phone_without_scrolling_sideways(
    page, screenshot, consultant, service_agent, path
):
    page.set_viewport_size({"width": 390, "height": 844})
    login(page, "service_agent" if path.startswith("/service") else "consultant")
    page.goto(path)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    screenshot("phone-width-" + path.strip("/").replace("/", "-"))
    assert width <= 390, f"{path} is {width}px wide on a 390px screen"
