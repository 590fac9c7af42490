"""The lock-out as a person meets it: wrong passwords, then the right one refused with
a clear message, in Chinese and after switching, in English."""

from __future__ import annotations

from tests.conftest import PASSWORD


def try_login(page, password: str) -> None:
    page.get_by_label("用户名").fill("consultant")
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()


def test_after_five_wrong_passwords_the_right_one_is_refused_with_a_message(
    page, screenshot, consultant, settings
):
    settings.LOGIN_FAILURE_LIMIT = settings.AXES_FAILURE_LIMIT = 5
    page.goto("/accounts/login/")
    for _ in range(5):
        try_login(page, "wrong-password")
    try_login(page, PASSWORD)
    message = page.get_by_test_id("login-locked")
    message.wait_for()
    assert "15" in message.inner_text()
    assert page.url.endswith("/accounts/login/")
    screenshot("80-login-locked")
    # The language switch works on the locked page (a data-autosubmit select).
    page.select_option("#language-select", "en")
    page.wait_for_load_state()
    page.get_by_label("Username").fill("consultant")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    text = page.get_by_test_id("login-locked").inner_text()
    assert "This account is locked" in text and "15 minutes" in text
    screenshot("81-login-locked-en")
