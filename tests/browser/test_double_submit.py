"""A tired user's second click sends nothing (static/js/submit_once.js)."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from customers.models import Interaction
from tests.browser.test_customer_journey import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _slow_posts(page, fragment: str) -> list[str]:
    """Hold every POST to a URL containing ``fragment`` for a moment; list them."""
    sent: list[str] = []

    def handle(route, request):
        if request.method == "POST":
            sent.append(request.url)
            time.sleep(0.8)
        route.continue_()

    page.route(f"**{fragment}**", handle)
    return sent


def test_the_quick_log_button_is_disabled_while_the_entry_is_sent(
    page, consultant, own_customer
):
    login(page, "consultant")
    page.goto(own_customer.get_absolute_url())
    sent = _slow_posts(page, "/log/")
    form = page.get_by_test_id("quick-log")
    form.locator("select[name=kind]").select_option("call_out")
    form.locator("textarea[name=summary]").fill("回访，客户考虑中")
    button = form.locator("button[type=submit]")
    button.click()
    # Locator waits and a function handle: the CSP forbids evaluating strings.
    expect(button).to_be_disabled()
    form.evaluate("form => form.requestSubmit()")
    page.get_by_text("回访，客户考虑中").first.wait_for()
    assert len(sent) == 1
    assert Interaction.objects.filter(customer=own_customer).count() == 1
    # The fresh form that replaced it can be used again.
    assert page.get_by_test_id("quick-log").locator("button[type=submit]").is_enabled()
