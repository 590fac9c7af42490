"""A sales manager reads win/loss, time in stage and cohorts, on a desktop and on a
phone, and a number opens the deals behind it."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from playwright.sync_api import expect

from sales.models import DealChange, Opportunity, StageChange
from tests.browser.axe import axe_violations
from tests.browser.test_customer_journey import login
from tests.factories import make_building
from tests.insight_fixtures import facts_refreshed, sell

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDE = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


def approved(deal: Opportunity) -> DealChange:
    """The approved cancellation move_to() asks for to end a subscription."""
    return DealChange(opportunity=deal, status=DealChange.Status.APPROVED)


def _spread(deal: Opportunity, start: datetime, gaps: list[int]) -> None:
    Opportunity.objects.filter(pk=deal.pk).update(created_at=start)
    at = start
    changes = StageChange.objects.filter(opportunity=deal).order_by("id")
    for change, days in zip(changes, gaps, strict=False):
        at += timedelta(days=days)
        StageChange.objects.filter(pk=change.pk).update(changed_at=at)


def _office(consultant, other_consultant):
    building = make_building(floors=6, per_floor=4, skipped=())
    now = timezone.now()
    reasons = ["other", "price", "competitor", "location", "price"]
    for n in range(10):
        actor = consultant if n % 2 else other_consultant
        deal = sell(
            building,
            actor,
            contract=n % 3 == 0,
            source=("wechat", "phone", "web")[n % 3],
        )
        if n % 3 == 1:
            # A subscription ends only through an approved cancellation.
            deal.move_to(
                "lost", actor=actor, reason=reasons[n % 5], change=approved(deal)
            )
        _spread(deal, now - timedelta(days=20 + 9 * n), [1 + n % 4, 2 + n, 3, 4])
    facts_refreshed()


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def _fits_the_phone(page) -> None:
    """Nothing wider than the phone once the charts have followed the new width
    (Chart.js resizes on its next frame); wide tables scroll inside their box."""
    # Polled from here: wait_for_function re-evaluates its string in the page,
    # which the CSP forbids (no 'unsafe-eval'); evaluate() goes through CDP.
    deadline = time.monotonic() + 3
    width = page.evaluate("() => document.documentElement.scrollWidth")
    while width > PHONE["width"] and time.monotonic() < deadline:
        page.wait_for_timeout(50)
        width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width


def test_a_manager_reads_win_loss_and_opens_the_lost_deals_of_a_reason(
    page, screenshot, consultant, other_consultant, sales_manager
):
    _office(consultant, other_consultant)
    login(page, "sales_manager")
    page.set_viewport_size(WIDE)
    page.goto("/sales/dashboard/")
    page.get_by_test_id("insight-links").get_by_role("link").first.click()
    expect(page.get_by_test_id("win-loss-totals")).to_be_visible()
    expect(page.get_by_test_id("lost")).to_have_text("3")
    assert axe_violations(page) == []
    screenshot("sales-insight-win-loss-1440")

    page.set_viewport_size(PHONE)
    _fits_the_phone(page)
    screenshot("sales-insight-win-loss-390")

    page.set_viewport_size(WIDE)
    page.get_by_test_id("lost-by-reason").get_by_role("link").first.click()
    expect(page.get_by_test_id("drill-banner")).to_be_visible()
    assert page.locator("table tbody tr").count() == 2  # the two lost on price

    page.goto("/sales/insight/velocity/")
    expect(page.get_by_test_id("stage-stats")).to_be_visible()
    assert axe_violations(page) == []
    screenshot("sales-insight-velocity-1440")
    page.set_viewport_size(PHONE)
    _fits_the_phone(page)
    screenshot("sales-insight-velocity-390")

    page.goto("/sales/insight/cohorts/")
    expect(page.get_by_test_id("cohorts")).to_be_visible()
    found = axe_violations(page)
    assert found == [], [n for v in found for n in v["nodes"]][:3]
    _fits_the_phone(page)
    screenshot("sales-insight-cohorts-390")
    page.set_viewport_size(WIDE)
    screenshot("sales-insight-cohorts-1440")
