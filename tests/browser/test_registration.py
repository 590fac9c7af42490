from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from customers.models import Customer, Interaction
from sales.models import Project, Registration
from tests.browser.test_customer_journey import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_walk_in_of_a_new_number_by_keyboard_only(page, screenshot, consultant):
    """In Chinese: a mistyped number is called invalid at once and refused next to
    the field; corrected, Tab walks the form and Enter saves a new customer."""
    login(page, "consultant")
    page.goto("/customers/register/")
    mobile = page.locator("#id_mobile")
    hint = page.get_by_test_id("lookup-result")
    # The phone field has the focus (autofocus): from here on, the keyboard only.
    expect(mobile).to_be_focused()
    page.keyboard.type("123 4567 8901")
    expect(hint).to_have_attribute("data-state", "invalid")
    expect(hint.get_by_test_id("mobile-invalid")).to_be_visible()
    screenshot("10-walk-in-invalid-hint")
    page.keyboard.press("Enter")
    # Refused next to the field, which keeps the number and the focus for the fix.
    expect(page.locator(".invalid-feedback").first).to_be_visible()
    expect(mobile).to_have_attribute("aria-invalid", "true")
    expect(mobile).to_be_focused()
    screenshot("11-walk-in-invalid-refused")
    assert not Customer.objects.exists()

    page.keyboard.press("Control+A")
    page.keyboard.type("186 2222 3333")
    hint.get_by_text("新号码").wait_for()
    # The refusal was about the old text: editing the field clears it.
    expect(mobile).not_to_have_class(re.compile("is-invalid"))
    expect(page.locator(".invalid-feedback").first).to_be_hidden()
    page.keyboard.press("Tab")
    expect(page.locator("#id_name")).to_be_focused()
    page.keyboard.type("周芷若")
    page.keyboard.press("Tab")
    expect(page.locator("#id_source")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("input[name=kind][value=visit]")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#id_summary")).to_be_focused()
    page.keyboard.type("首次到访，看三居室")
    screenshot("12-walk-in-filled")
    # Enter saves from any field, the source list included.
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    expect(page.locator("#id_source")).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/customers/\d+/$"))
    customer = Customer.objects.get(mobile="+8618622223333")
    assert customer.name == "周芷若"
    assert customer.assigned_consultant == consultant
    visit = Interaction.objects.get(customer=customer)
    assert visit.kind == "visit" and visit.summary == "首次到访，看三居室"
    expect(page.get_by_test_id("timeline")).to_contain_text("首次到访")
    screenshot("13-walk-in-registered")


def test_returning_visitor_by_keyboard_only_in_english(
    page, screenshot, consultant, own_customer
):
    """The hint links to the existing record, yet Tab goes from the number straight
    to the next field, and Enter logs the call on that record."""
    login(page, "consultant")
    with page.expect_navigation():
        page.locator("#language-select").select_option("en")
    page.goto("/customers/register/")
    expect(page.locator("#id_mobile")).to_be_focused()
    page.keyboard.type("+86 138-0013-8000")
    hint = page.get_by_test_id("lookup-result")
    expect(hint.get_by_role("link", name="open")).to_be_visible()
    expect(hint).to_contain_text("Existing customer")
    screenshot("14-returning-hint-en")
    page.keyboard.press("Tab")
    expect(page.locator("#id_name")).to_be_focused()
    page.keyboard.press("Tab")  # the source channel
    page.keyboard.press("Tab")  # the kind: arrows choose within the group
    page.keyboard.press("ArrowDown")
    expect(page.locator("input[name=kind][value=call_in]")).to_be_checked()
    page.keyboard.press("Tab")
    expect(page.locator("#id_summary")).to_be_focused()
    page.keyboard.type("Asked about prices")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/customers/{own_customer.pk}/")
    assert Customer.objects.count() == 1
    call = Interaction.objects.get(customer=own_customer)
    assert call.kind == "call_in" and call.created_by == consultant
    assert call.summary == "Asked about prices"
    expect(page.get_by_test_id("timeline")).to_contain_text("Asked about prices")
    screenshot("15-returning-logged-en")


def test_a_quick_log_refreshes_the_key_facts_and_the_protection_in_place(
    page, screenshot, consultant, own_customer, team
):
    project = Project.objects.create(name="安居·御景湾")
    project.teams.add(team)
    login(page, "consultant")
    page.goto(f"/customers/{own_customer.pk}/")
    activity = page.get_by_test_id("customer-activity")
    ownership = page.get_by_test_id("ownership")
    expect(activity.get_by_test_id("next-follow-up")).to_have_text("—")
    expect(ownership).not_to_contain_text(project.name)
    # A mark on the page itself: a reload would lose it.
    page.evaluate("window.notReloaded = true")
    follow_up = timezone.localdate() + timedelta(days=3)
    form = page.get_by_test_id("quick-log")
    form.locator("select[name=kind]").select_option("visit")
    form.locator("input[name=next_follow_up]").fill(follow_up.isoformat())
    form.locator("textarea[name=summary]").fill("带看样板间")
    form.locator("button[type=submit]").click()
    expect(page.get_by_test_id("timeline")).to_contain_text("带看样板间")
    expect(activity.get_by_test_id("next-follow-up")).to_have_text(
        follow_up.isoformat()
    )
    expect(activity.get_by_test_id("last-contact")).to_contain_text(
        timezone.localdate().isoformat()
    )
    registration = Registration.objects.get(customer=own_customer)
    until = f"{timezone.localtime(registration.protected_until):%Y-%m-%d}"
    expect(ownership).to_contain_text(project.name)
    expect(ownership).to_contain_text(until)
    assert page.evaluate("window.notReloaded") is True
    screenshot("16-quick-log-refreshed")
