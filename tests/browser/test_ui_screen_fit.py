"""The big screen on the wall of the sales office: nobody scrolls it, so the whole
grid fits the viewport, on a 1366×768 laptop as on a 1920×1080 TV, with a legend, the
unit numbers large enough to read across the room, "sold" as on the buyers' phones
(grey, struck through) and the site's icon (no /favicon.ico request)."""

from __future__ import annotations

import pytest

from sales.models import Unit
from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_customer_journey import login
from tests.factories import make_building
from tests.opening_fixtures import make_session, opening_project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = [(1366, 768), (1920, 1080)]

MEASURE = """() => {
  const number = document.querySelector('[data-unit-id] .screen-unit-number');
  const sold = document.querySelector('[data-unit-id][data-status=subscribed]');
  const cells = [...document.querySelectorAll('[data-unit-id]')];
  const clipped = cells.filter((cell) => {
    const r = cell.getBoundingClientRect();
    return r.bottom > innerHeight + 0.5 || r.right > innerWidth + 0.5 || r.height < 8;
  }).length;
  return {
    scrollHeight: document.documentElement.scrollHeight,
    scrollWidth: document.documentElement.scrollWidth,
    innerHeight, innerWidth,
    numberPx: parseFloat(getComputedStyle(number).fontSize),
    // Every unit number whole: none cut short by its cell (ellipsis).
    numberFits: [...document.querySelectorAll('.screen-unit-number')].every(
      (n) => n.scrollWidth <= n.clientWidth),
    soldDecoration: getComputedStyle(sold).textDecorationLine,
    soldBackground: getComputedStyle(sold).backgroundColor,
    clipped, cells: cells.length,
  };
}"""


def open_screen(browser, live_server, session, width, height):
    context = browser.new_context(
        base_url=live_server.url,
        locale="zh-CN",
        viewport={"width": width, "height": height},
    )
    page = context.new_page()
    failed: list[str] = []
    page.on(
        "response",
        lambda response: (
            failed.append(f"{response.status} {response.url}")
            if response.status >= 400
            else None
        ),
    )
    # The building's column count is an inline custom property: allowed by the CSP.
    page.on(
        "console",
        lambda message: (
            failed.append(message.text)
            if "Content Security Policy" in message.text
            else None
        ),
    )
    login(page, "sales_manager")
    page.goto(f"/sales/sessions/{session.pk}/screen/")
    page.locator("[data-live-state=open]").wait_for(state="attached")
    return context, page, failed


def test_a_twelve_floor_building_fits_the_wall_screen_with_a_legend_and_large_text(
    browser, live_server, sales_manager
):
    project, units = opening_project(floors=12, per_floor=4)
    session = make_session(project=project, created_by=sales_manager, name="一期首开")
    sold = units[:3]
    Unit.objects.filter(pk__in=[u.pk for u in sold]).update(
        status=Unit.Status.SUBSCRIBED
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    for width, height in VIEWPORTS:
        context, page, failed = open_screen(
            browser, live_server, session, width, height
        )
        page.get_by_test_id("screen-legend").wait_for()
        assert "可售" in page.get_by_test_id("screen-legend").inner_text()
        assert "已售" in page.get_by_test_id("screen-legend").inner_text()
        m = page.evaluate(MEASURE)
        page.screenshot(path=str(SCREENSHOTS / f"ui-screen-fit-{width}x{height}.png"))
        print(f"{width}×{height}: {m}")
        assert m["scrollHeight"] <= m["innerHeight"], m
        assert m["scrollWidth"] <= m["innerWidth"], m
        assert m["cells"] == len(units) and m["clipped"] == 0, m
        assert m["numberFits"], m
        # Sold looks as on the phones (opening_phone.css): grey, struck through.
        assert "line-through" in m["soldDecoration"], m
        assert m["soldBackground"] == "rgb(233, 236, 239)", m
        if width == 1920:
            assert m["numberPx"] >= 16, m
        else:
            assert m["numberPx"] >= 14, m
        assert page.locator("link[rel=icon]").get_attribute("href").endswith(".svg")
        assert failed == [], failed
        context.close()


def test_three_thirty_floor_buildings_still_fit_a_laptop_screen(
    browser, live_server, sales_manager
):
    """The upper end of a typical session: a few 30-floor × 6 buildings side by side."""
    project, units = opening_project(floors=30, per_floor=6, name="安居·高层苑")
    for _ in range(2):
        make_building(project_name=project.name, floors=30, per_floor=6, skipped=())
    session = make_session(project=project, created_by=sales_manager)
    Unit.objects.filter(pk__in=[u.pk for u in units[::7]]).update(
        status=Unit.Status.SUBSCRIBED
    )

    for width, height in VIEWPORTS:
        context, page, failed = open_screen(
            browser, live_server, session, width, height
        )
        m = page.evaluate(MEASURE)
        page.screenshot(
            path=str(SCREENSHOTS / f"ui-screen-fit-3x30-{width}x{height}.png")
        )
        print(f"3×30×6 at {width}×{height}: {m}")
        assert m["scrollHeight"] <= m["innerHeight"], m
        assert m["scrollWidth"] <= m["innerWidth"], m
        assert m["cells"] == 3 * 30 * 6 and m["clipped"] == 0, m
        assert m["numberPx"] >= 10, m
        assert failed == [], failed
        context.close()
