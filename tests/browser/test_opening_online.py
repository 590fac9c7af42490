"""Opening day on two phones: two buyers sign in with their SMS code, open the same
unit and confirm at the same moment. One gets it; the other's confirm page says at
once that it was just sold (the phone's script reads the short "taken" answer rather
than reloading the grid), goes back to the grid, and picks another. A third screen watching the session's
grid shows both sales without being reloaded. The winner's confirmation says the
subscription is being signed and updates itself once the worker has signed it."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation
from playwright.sync_api import expect

from crm_site import portal
from sales.models import Selection, SelectionSession, Unit
from sales.opening_lane import SOLD_WORDS
from sales.services.opening import selection_claim, selection_complete
from tests.browser.conftest import SCREENSHOTS
from tests.browser.portal import phone_page, sign_in_owner
from tests.factories import CustomerFactory
from tests.opening_fixtures import enter, make_deposit, make_session, opening_project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CONFIRM = "document.querySelector('[data-testid=opening-choose-form]').requestSubmit()"


def test_two_buyers_choose_one_unit_at_once_one_gets_it_the_other_picks_another(
    browser, live_server, caplog, consultant, sales_manager
):
    project, units = opening_project(floors=4, per_floor=2)
    session = make_session(
        project=project,
        created_by=sales_manager,
        mode=SelectionSession.Mode.ONLINE,
        order=SelectionSession.Order.FIRST_COME,
        name="安居·开盘苑 首开",
    )
    buyers = [
        CustomerFactory(name=name, mobile=mobile, assigned_consultant=consultant)
        for name, mobile in (
            ("钱一", "+8613900001111"),
            ("孙二", "+8613900002222"),
            ("李观", "+8613900003333"),
        )
    ]
    entries = [
        enter(session, make_deposit(project=project, consultant=consultant, customer=b))
        for b in buyers
    ]
    hot = units[0]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    phones = [phone_page(browser, live_server) for _ in range(2)]
    screen = browser.new_context(
        base_url=live_server.url,
        locale="zh-CN",
        viewport={"width": 1280, "height": 900},
    )
    try:
        for (_context, page, _v), mobile in zip(
            phones, ("139 0000 1111", "139 0000 2222"), strict=True
        ):
            sign_in_owner(page, mobile, caplog)
            # The portal's tabs lead to the online selection, first of all.
            page.get_by_test_id("portal-tabs").locator(
                "a[href='/portal/sales/opening/']"
            ).click()
            page.get_by_test_id("opening-session-link").click()
            page.locator("[data-live-state=open]").wait_for(state="attached")

        # The third screen: the watcher's grid on a big screen (signed in directly).
        screen.add_cookies(
            [
                {
                    "name": settings.PORTAL_SESSION_COOKIE,
                    "value": portal.session_for(buyers[2]).session_key,
                    "url": live_server.url + "/portal/",
                }
            ]
        )
        watcher = screen.new_page()
        watcher.goto(f"/portal/sales/opening/{entries[2].pk}/")
        watcher.locator("[data-live-state=open]").wait_for(state="attached")

        first, second = phones[0][1], phones[1][1]
        expect(first.get_by_test_id("opening-position")).to_have_text("1")
        expect(second.get_by_test_id("opening-position")).to_have_text("2")
        for page in (first, second):
            page.locator(f"[data-unit-id='{hot.pk}']").click()
            page.get_by_test_id("opening-choose").wait_for()
        # Both confirm at the same moment.
        first.evaluate(CONFIRM)
        second.evaluate(CONFIRM)
        won_page = None
        for _ in range(100):
            won_page = next(
                (p for p in (first, second) if "/selections/" in p.url), None
            )
            if won_page is not None:
                break
            first.wait_for_timeout(100)
        winner_entry = Selection.objects.get(unit=hot).entry
        won, lost = (first, second) if winner_entry == entries[0] else (second, first)
        assert won_page is won
        expect(won.get_by_test_id("opening-done-unit")).to_contain_text(hot.number)
        # The other is told at once on the confirm page, the button off …
        with translation.override("zh-hans"):
            sold_words = translation.gettext(SOLD_WORDS)
        expect(lost.get_by_test_id("opening-sold-note")).to_be_visible()
        expect(lost.get_by_test_id("opening-sold-note")).to_contain_text(sold_words)
        expect(lost.get_by_test_id("opening-confirm")).to_be_disabled()
        assert "/selections/" not in lost.url
        # … and back on the grid the unit is sold and outlined.
        lost.get_by_test_id("opening-back").click()
        lost.wait_for_url(lambda url: "taken=" in url)
        expect(lost.locator(f"[data-unit-id='{hot.pk}']")).to_have_attribute(
            "data-status", "subscribed"
        )
        expect(lost.locator(f"[data-unit-id='{hot.pk}']")).to_have_class(
            re.compile("opening-taken")
        )
        lost.screenshot(
            path=str(SCREENSHOTS / "opening-phone-lost.png"), full_page=True
        )
        won.screenshot(path=str(SCREENSHOTS / "opening-phone-won.png"), full_page=True)
        # The unit is theirs at once; the worker signs the subscription a moment
        # later, and the confirmation reloads itself until it is signed.
        expect(won.get_by_test_id("opening-signing")).to_be_visible()
        selection_complete(Selection.objects.get(unit=hot).pk)
        expect(won.get_by_test_id("opening-signing")).to_have_count(0, timeout=8000)
        expect(won.get_by_role("link", name="我的房产").last).to_be_visible()
        won.screenshot(
            path=str(SCREENSHOTS / "opening-phone-signed.png"), full_page=True
        )
        # Its printable confirmation reads on the phone: laid out at the phone's
        # width, not shrunk from a desktop page's.
        deal = Selection.objects.get(unit=hot).opportunity
        won.goto(reverse("sales_portal:document", args=[deal.pk, "selection"]))
        assert won.evaluate("window.innerWidth") == 390
        assert won.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        won.screenshot(path=str(SCREENSHOTS / "opening-phone-document.png"))
        won.go_back()

        # … and picks another.
        other = units[1]
        lost.locator(f"[data-unit-id='{other.pk}']").click()
        lost.get_by_test_id("opening-confirm").click()
        expect(lost.get_by_test_id("opening-done-unit")).to_contain_text(other.number)
        lost.screenshot(
            path=str(SCREENSHOTS / "opening-phone-second.png"), full_page=True
        )

        # The watching screen shows both sales, pushed (never reloaded).
        for unit in (hot, other):
            expect(watcher.locator(f"[data-unit-id='{unit.pk}']")).to_have_attribute(
                "data-status", "subscribed", timeout=2000
            )
        expect(watcher.locator("[data-available-count]")).to_have_text(
            str(len(units) - 2)
        )
        watcher.screenshot(path=str(SCREENSHOTS / "opening-screen.png"), full_page=True)

        assert Selection.objects.count() == 2
        assert Unit.objects.filter(status=Unit.Status.SUBSCRIBED).count() == 2
        assert {s.entry_id for s in Selection.objects.all()} == {
            entries[0].pk,
            entries[1].pk,
        }
        for _context, _page, violations in phones:
            assert violations == [], violations
    finally:
        for context, _page, _v in phones:
            context.close()
        screen.close()


def test_a_unit_sold_while_its_confirm_page_is_open_is_outlined_back_on_the_grid(
    browser, live_server, consultant, sales_manager
):
    """The sale is pushed to the open confirm page before the buyer taps: the page
    says so, the button goes off, and "back to the units" outlines the unit, as
    after a lost race's answer (a busy phone may see the push first)."""
    project, units = opening_project(floors=2, per_floor=2)
    session = make_session(
        project=project,
        created_by=sales_manager,
        mode=SelectionSession.Mode.ONLINE,
        order=SelectionSession.Order.FIRST_COME,
    )
    buyer, other = (
        CustomerFactory(mobile=mobile, assigned_consultant=consultant)
        for mobile in ("+8613900004444", "+8613900005555")
    )
    mine, theirs = (
        enter(session, make_deposit(project=project, consultant=consultant, customer=c))
        for c in (buyer, other)
    )
    hot = units[0]
    context, page, violations = phone_page(browser, live_server)
    try:
        context.add_cookies(
            [
                {
                    "name": settings.PORTAL_SESSION_COOKIE,
                    "value": portal.session_for(buyer).session_key,
                    "url": live_server.url + "/portal/",
                }
            ]
        )
        page.goto(f"/portal/sales/opening/{mine.pk}/")
        page.locator("[data-live-state=open]").wait_for(state="attached")
        page.locator(f"[data-unit-id='{hot.pk}']").click()
        page.get_by_test_id("opening-choose").wait_for()
        page.locator("[data-live-state=open]").wait_for(state="attached")
        selection_claim(session=session, entry=theirs, unit=hot, channel="online")
        expect(page.get_by_test_id("opening-sold-note")).to_be_visible()
        expect(page.get_by_test_id("opening-confirm")).to_be_disabled()
        page.get_by_test_id("opening-back").click()
        page.wait_for_url(lambda url: f"taken={hot.pk}" in url)
        expect(page.locator(f"[data-unit-id='{hot.pk}']")).to_have_class(
            re.compile("opening-taken")
        )
        assert violations == [], violations
    finally:
        context.close()
