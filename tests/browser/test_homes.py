"""Each role's home is its work: every role's landing page at a desktop (1440×900)
and a phone (390×844) width, in Chinese, and one in English, with screenshots named
home-<role>-<lang>-<width>.png to look at. One live server, one database, one test."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from crm_site.models import Target
from customers import services as customer_services
from sales.models import Registration
from service.models import ServiceRequest
from tests.browser.test_customer_journey import PASSWORD
from tests.factories import CustomerFactory
from tests.marketing import conftest as marketing_fixtures

building = marketing_fixtures.building
project = marketing_fixtures.project
sign = marketing_fixtures.sign

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = {1440: 900, 390: 844}
# role: (persona fixture, what its home shows)
HOMES = {
    "consultant": "overdue",
    "sales_manager": "overview-sales",
    "service_agent": "request-table",
    "service_manager": "overview-service",
    "marketer": "return-by-campaign",
    "executive": "overview-sales",
}


def _request(customer, receiver, due: timedelta) -> ServiceRequest:
    now = timezone.now()
    return ServiceRequest.objects.create(
        kind="complaint",
        customer=customer,
        category="construction",
        severity="normal",
        channel="phone",
        description="卫生间渗水",
        receiver=receiver,
        response_due=now + due,
        resolution_due=now + due,
    )


@pytest.fixture
def world(consultant, sales_manager, service_agent, project, sign):
    today = timezone.localdate()
    for i, days in enumerate((1, 3, 6)):
        CustomerFactory(
            name=f"逾期客户{i}",
            mobile=f"+861380000{i:04d}",
            assigned_consultant=consultant,
            next_follow_up=today - timedelta(days=days),
        )
    ending = CustomerFactory(name="保护将到期", assigned_consultant=None)
    customer_services.interaction_log(
        customer=ending, kind="visit", summary="到访", actor=consultant
    )
    Registration.objects.filter(customer=ending).update(
        protected_until=timezone.now() + timedelta(days=2)
    )
    for name in ("签约客户甲", "签约客户乙"):
        customer = CustomerFactory(name=name, assigned_consultant=consultant)
        customer_services.interaction_log(
            customer=customer, kind="visit", summary="到访", actor=consultant
        )
        sign(customer, consultant)
    owner = CustomerFactory(name="业主张", stage="owner")
    _request(owner, service_agent, timedelta(days=2))
    _request(owner, service_agent, timedelta(hours=-3))
    Target.objects.create(figure="sales.contracts", month=today.replace(day=1), value=4)
    cache.clear()


def _login(page, username: str) -> None:
    """Log in and land wherever the role's home is (a queue has a query string)."""
    page.goto("/accounts/login/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def _shoot(page, screenshot, role: str, lang: str) -> None:
    for width, height in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        page.reload()
        page.get_by_test_id(HOMES[role]).first.wait_for()
        # Nothing is wider than the screen: tables scroll inside their own box.
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - window.innerWidth"
        )
        assert overflow <= 0, f"{role} {width}: {overflow}px too wide"
        screenshot(f"home-{role}-{lang}-{width}")


def test_every_roles_home_is_its_work_at_desktop_and_phone_width(
    page, screenshot, world, service_manager, marketer, executive
):
    for role in HOMES:
        page.context.clear_cookies()
        _login(page, role)
        _shoot(page, screenshot, role, "zh")
        if role == "consultant":
            # The narrow column's date picker holds a whole date on a desktop.
            page.set_viewport_size({"width": 1440, "height": 900})
            date_box = page.get_by_test_id("ending").locator("input[type=date]").first
            assert date_box.bounding_box()["width"] >= 130
            page.set_viewport_size({"width": 390, "height": 844})
            # One click logs the call in place: the row turns into its result.
            row = page.get_by_test_id("overdue").get_by_test_id("quick-log-row").first
            row.locator("input[name=summary]").fill("已电话联系，周末来看房")
            row.get_by_role("button", name="记录").click()
            page.get_by_test_id("quick-log-done").wait_for()
            screenshot("home-consultant-zh-390-logged")
        if role == "sales_manager":
            # The longest navigation stays on one line where it opens, and folds
            # into the menu below that.
            for width, folded in ((1280, False), (1024, True)):
                page.set_viewport_size({"width": width, "height": 800})
                toggler = page.locator(".navbar-toggler")
                assert toggler.is_visible() is folded, width
                if not folded:
                    bar = page.locator("nav.navbar").bounding_box()
                    assert bar["height"] < 70, f"{width}: {bar['height']}px"
        if role == "service_agent":
            first = page.get_by_test_id("request-table").locator("tbody tr").first
            assert "table-danger" in (first.get_attribute("class") or "")
        if role == "executive":
            contracts = page.get_by_test_id("fig-sales.contracts")
            assert "▲" in contracts.inner_text()
            contracts.click()
            page.get_by_test_id("reached-filter").wait_for()
            assert page.get_by_test_id("deal-table").locator("tbody tr").count() == 2
    # The executive's home in English.
    page.goto("/")
    page.set_viewport_size({"width": 1440, "height": 900})
    page.locator(
        '[data-testid="language-switch"] select >> visible=true'
    ).select_option("en")
    page.locator("html[lang=en]").wait_for()
    _shoot(page, screenshot, "executive", "en")


def test_the_unread_count_sits_on_the_bell_in_the_phones_menu(page, consultant):
    """Collapsed, the menu's links are full width: the count stays on the bell."""
    from crm_site.notifications import notify

    notify(user=consultant, message="请回电客户")
    page.set_viewport_size({"width": 390, "height": 844})
    _login(page, "consultant")
    page.locator(".navbar-toggler").click()
    bell = page.get_by_test_id("notification-bell")
    badge = bell.locator(".badge")
    badge.wait_for()
    icon = bell.locator(".bi-bell").bounding_box()
    count = badge.bounding_box()
    assert count["x"] - (icon["x"] + icon["width"]) < 24
