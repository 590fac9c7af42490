"""Signing an owner in to the portal in the browser, as a person does: the mobile
number, then the code from the SMS. With the log SMS backend (the default) the code
is in the log: the sender (the worker's job) runs here, and the log line is read."""

from __future__ import annotations

import logging
import re

from customers.services.portal import portal_codes_send_pending

PHONE = {"width": 390, "height": 844}
CODE = re.compile(r"sign-in code for \S+: (\d{6})")


def code_from_sms_log(caplog) -> str:
    """Send the pending sign-in codes as the worker would; the last code logged."""
    with caplog.at_level(logging.INFO, logger="anju.sms"):
        portal_codes_send_pending()
    codes = [
        match.group(1)
        for record in caplog.records
        if (match := CODE.search(record.getMessage()))
    ]
    assert codes, "no sign-in code in the SMS log"
    return codes[-1]


def phone_page(browser, live_server):
    context = browser.new_context(
        base_url=live_server.url, locale="zh-CN", viewport=PHONE, is_mobile=True
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text)
            if "Content Security Policy" in message.text
            else None
        ),
    )
    return context, page, violations


def sign_in_owner(
    page, mobile: str, caplog, *, remember: bool = False, screenshot_dir=None
) -> None:
    """From the sign-in page to the portal's home page (screenshots of both steps
    into ``screenshot_dir`` when given)."""
    page.goto("/portal/sign-in/")
    form = page.get_by_test_id("portal-sign-in")
    form.locator("input[name=mobile]").fill(mobile)
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/portal/sign-in/code/")
    if screenshot_dir is not None:
        page.screenshot(path=str(screenshot_dir / "89-portal-sign-in-code.png"))
    code = code_from_sms_log(caplog)
    form = page.get_by_test_id("portal-code-form")
    form.locator("input[name=code]").fill(code)
    if remember:
        form.locator("input[name=remember]").check()
    form.locator("button[type=submit]").click()
    page.get_by_test_id("portal-home-sections").wait_for()
