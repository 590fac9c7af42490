"""A buyer who chose online on opening day, on her phone (390×844): my payments says
what is left to pay, her home's page offers the documents, and the selection
confirmation says what happened in the session."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.conf import settings

from sales.models import Selection, SelectionSession
from sales.services.opening import selection_make
from tests.browser.conftest import SCREENSHOTS
from tests.browser.portal import phone_page
from tests.factories import CustomerFactory
from tests.opening_fixtures import enter, make_deposit, make_session, opening_project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_buyer_who_chose_online_reads_what_is_left_and_prints_her_confirmation(
    browser, live_server, consultant, sales_manager
):
    from crm_site import portal

    project, units = opening_project()
    session = make_session(
        project=project,
        created_by=sales_manager,
        mode=SelectionSession.Mode.ONLINE,
        name="首开第一批",
    )
    buyer = CustomerFactory(name="周宁", assigned_consultant=consultant)
    entry = enter(
        session, make_deposit(project=project, consultant=consultant, customer=buyer)
    )
    selection = selection_make(
        session=session, entry=entry, unit=units[0], channel=Selection.Channel.ONLINE
    )
    deal = selection.opportunity
    rest = deal.agreed_price - Decimal("50000.00")

    context, page, violations = phone_page(browser, live_server)
    context.add_cookies(
        [
            {
                "name": settings.PORTAL_SESSION_COOKIE,
                "value": portal.session_for(buyer).session_key,
                "url": live_server.url,
            }
        ]
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        page.goto("/portal/sales/payments/")
        outstanding = page.get_by_test_id("outstanding")
        assert outstanding.inner_text().replace("\xa0", "") == f"¥{rest:,.2f}"
        assert f"¥{rest:,.2f}" in page.get_by_test_id("unscheduled").inner_text()
        page.screenshot(
            path=str(SCREENSHOTS / "ui-selection-payments.png"), full_page=True
        )

        page.goto(f"/portal/sales/homes/{deal.pk}/")
        documents = page.get_by_test_id("home-documents")
        documents.wait_for()
        page.screenshot(path=str(SCREENSHOTS / "ui-selection-home.png"), full_page=True)
        with context.expect_page() as opened:
            documents.get_by_test_id("document-selection").click()
        sheet = opened.value
        sheet.wait_for_load_state()
        text = sheet.locator("body").inner_text()
        assert "首开第一批" in text and "该房源预留至" not in text
        assert sheet.get_by_test_id("selection-position").inner_text().startswith("1")
        sheet.screenshot(
            path=str(SCREENSHOTS / "ui-selection-confirmation.png"), full_page=True
        )
        assert violations == []
    finally:
        context.close()
