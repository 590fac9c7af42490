from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from sales import services
from sales.models import DealChange, Unit
from tests.browser.test_customer_journey import login
from tests.factories import CustomerFactory, make_building

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDE = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


def _office(consultant, team):
    """A building with units in every status, deals at every open stage, a discount
    above the limit waiting for the manager."""
    building = make_building(floors=10, per_floor=6, skipped=(4,))
    building.project.teams.add(team)
    units = list(building.units.order_by("floor", "position"))

    def deal(unit=None, name=None):
        opened = services.opportunity_open(
            actor=consultant,
            customer=CustomerFactory(name=name, assigned_consultant=consultant)
            if name
            else CustomerFactory(assigned_consultant=consultant),
            project=building.project,
        )
        if unit is not None:
            services.unit_reserve(actor=consultant, opportunity=opened, unit=unit)
            opened.refresh_from_db()
        return opened

    for unit in units[:3]:
        deal(unit)  # reserved
    haggler = deal(units[3], name="欧阳明轩")
    services.discount_request(
        actor=consultant, opportunity=haggler, percent=Decimal("1"), reason="老客户"
    )
    services.discount_request(
        actor=consultant,
        opportunity=haggler,
        percent=Decimal("4.5"),
        reason="团购三套，客户要求按团购价",
    )
    subscribed = [deal(unit) for unit in units[6:10]]
    for sub in subscribed:
        services.unit_subscribe(actor=consultant, opportunity=sub)
    for sub in subscribed[2:]:
        services.opportunity_contract(actor=consultant, opportunity=sub)
    Unit.objects.filter(pk__in=[u.pk for u in units[12:14]]).update(
        status=Unit.Status.NOT_FOR_SALE
    )
    Unit.objects.filter(pk__in=[u.pk for u in units[14:16]]).update(
        status=Unit.Status.HANDED_OVER
    )
    for _ in range(5):
        deal()
    return building, subscribed[0]


def _fits(locator) -> None:
    """The element's text is on one line and inside its box."""
    box = locator.bounding_box()
    assert box is not None and box["height"] < 40, box
    assert locator.evaluate("el => el.scrollWidth <= el.clientWidth + 1")


def _no_sideways_scroll(page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], width


def test_sales_office_screens_grid_board_picker_and_approvals(
    page, screenshot, consultant, sales_manager, team
):
    building, subscribed = _office(consultant, team)
    page.set_viewport_size(WIDE)

    # The consultant asks to move a subscription to another unit, picked by floor.
    login(page, "consultant")
    page.goto(subscribed.get_absolute_url())
    form = page.get_by_test_id("change-form")
    form.locator("#id_kind").select_option("change_unit")
    form.locator("#id_reason").fill("客户想换高层")
    form.locator("#picker-floor").fill("9")
    options = page.get_by_test_id("unit-options")
    expect(options.locator("input[name=new_unit]").first).to_be_visible()
    expect(options).to_contain_text("901")
    expect(options).not_to_contain_text(f"{building.name} 301")
    options.locator("label", has_text="902").click()
    screenshot("40-unit-picker")
    form.get_by_role("button", name="提交审批").click()
    page.wait_for_url(f"**{subscribed.get_absolute_url()}")
    change = DealChange.objects.get()
    assert change.new_unit.number == "902"

    # The sales manager: the grid, the board, the approvals.
    page.context.clear_cookies()
    login(page, "sales_manager")
    page.goto(f"/sales/buildings/{building.pk}/")
    legend = page.get_by_test_id("grid-legend")
    for status in Unit.Status.values:
        item = legend.locator(f"[data-status='{status}']")
        expect(item.locator("i.bi")).to_be_visible()
    expect(legend).to_contain_text("可售")
    expect(legend).to_contain_text("不可售")
    _no_sideways_scroll(page)
    screenshot("41-grid-1440")
    page.get_by_test_id("grid-big-screen").click()
    expect(page.locator("nav.navbar")).to_be_hidden()
    expect(page.get_by_test_id("grid-normal")).to_be_visible()
    screenshot("42-grid-big-screen")

    page.goto("/sales/deals/board/")
    board = page.get_by_test_id("deal-board")
    expect(
        board.locator("[data-stage='reserved'] [data-testid=column-total]")
    ).to_contain_text("¥")
    expect(
        board.locator("[data-stage=reserved] [data-testid=deal-amount]").first
    ).to_contain_text("¥")
    # Six columns fit 1440 px: nothing to scroll sideways.
    assert board.evaluate("el => el.scrollWidth <= el.clientWidth + 1")
    screenshot("43-board-1440")

    page.goto("/sales/approvals/")
    cards = page.get_by_test_id("approval-item")
    expect(cards).to_have_count(2)
    discount = cards.filter(has_text="欧阳明轩")
    expect(discount.get_by_test_id("price-effect")).to_contain_text("¥")
    expect(discount.get_by_test_id("price-difference")).to_contain_text("−¥")
    expect(discount.get_by_test_id("deal-history")).to_contain_text("折扣")
    for card in (cards.nth(0), cards.nth(1)):
        for name in ("批准", "驳回"):
            _fits(card.get_by_role("button", name=name))
    _no_sideways_scroll(page)
    screenshot("44-approvals-1440")

    for viewport in ({"width": 1280, "height": 800}, PHONE):
        page.set_viewport_size(viewport)
        for card in (cards.nth(0), cards.nth(1)):
            for name in ("批准", "驳回"):
                button = card.get_by_role("button", name=name)
                _fits(button)
                box, frame = button.bounding_box(), card.bounding_box()
                assert box["x"] + box["width"] <= frame["x"] + frame["width"]
        _no_sideways_scroll(page)
    screenshot("45-approvals-390")

    # On a phone the board scrolls sideways, with a shadow where more columns are.
    page.goto("/sales/deals/board/")
    expect(page.locator("[data-scroll-shadow]")).to_have_attribute(
        "data-more-right", ""
    )
    screenshot("46-board-390")

    # One English check: the longer button labels still fit at 390 px.
    page.set_viewport_size(WIDE)
    with page.expect_navigation():
        page.locator("#language-select").select_option("en")
    page.set_viewport_size(PHONE)
    page.goto("/sales/approvals/")
    for name in ("Approve", "Reject"):
        _fits(cards.nth(0).get_by_role("button", name=name))
    expect(cards.first.get_by_text("Deal history and approvals")).to_be_visible()
    _no_sideways_scroll(page)
    screenshot("47-approvals-390-en")


def test_a_managers_own_discount_request_shows_withdraw_not_approve_on_a_phone(
    page, screenshot, consultant, sales_manager, team
):
    """Four eyes on the approvals page: the manager's own request says another
    manager decides and offers only Withdraw, inside a phone's width."""
    building, _subscribed = _office(consultant, team)
    haggler = services.opportunity_open(
        actor=consultant,
        customer=CustomerFactory(name="司马晴", assigned_consultant=consultant),
        project=building.project,
    )
    unit = building.units.filter(status=Unit.Status.AVAILABLE).order_by("pk").first()
    services.unit_reserve(actor=consultant, opportunity=haggler, unit=unit)
    mine = services.discount_request(
        actor=sales_manager,
        opportunity=haggler,
        percent=Decimal("6"),
        reason="经理特批：开盘团购",
    )
    page.set_viewport_size(PHONE)
    login(page, "sales_manager")
    page.goto("/sales/approvals/")
    own = page.get_by_test_id("approval-item").filter(has_text="经理特批")
    expect(own.get_by_test_id("own-request")).to_be_visible()
    expect(own.get_by_role("button", name="批准")).to_have_count(0)
    withdraw = own.get_by_role("button", name="撤回申请")
    expect(withdraw).to_be_visible()
    # The colleague's request beside it still offers both decisions.
    other = page.get_by_test_id("approval-item").filter(has_text="团购三套")
    expect(other.get_by_role("button", name="批准")).to_be_visible()
    _no_sideways_scroll(page)
    own.scroll_into_view_if_needed()
    screenshot("47-own-request-phone")
    withdraw.click()
    expect(page.locator(".alert-success")).to_contain_text("您的申请已撤回")
    expect(
        page.get_by_test_id("approval-item").filter(has_text="经理特批")
    ).to_have_count(0)
    mine.refresh_from_db()
    assert mine.status == "withdrawn"
