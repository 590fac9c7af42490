"""The screen pop in the browser: the telephony system posts a ringing call for a
known owner; the card appears on the agent's open page within a second, and one
click opens the service request form prefilled for the owner and their unit."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from playwright.sync_api import expect

from crm_site.api.scopes import Scope
from customers.models import AgentExtension, Customer
from sales.models import Opportunity
from tests.api_fixtures import make_key
from tests.browser.test_customer_journey import login
from tests.factories import CustomerFactory, make_building

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _post_call(live_server, raw_key: str, **body) -> int:
    request = urllib.request.Request(
        f"{live_server.url}/api/v1/telephony/calls/",
        data=json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {raw_key}",
            "Content-Type": "application/json",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status


def test_a_ringing_call_pops_the_owners_card_and_opens_a_prefilled_request(
    page, screenshot, live_server, service_agent, other_consultant
):
    building = make_building(floors=2, per_floor=2, skipped=())
    unit = building.units.order_by("floor", "position").first()
    owner = CustomerFactory(
        name="周大福",
        mobile="+8613512345678",
        stage=Customer.Stage.OWNER,
        assigned_consultant=other_consultant,
    )
    Opportunity.objects.create(
        customer=owner,
        project=building.project,
        unit=unit,
        consultant=other_consultant,
        stage=Opportunity.Stage.CONTRACTED,
    )
    AgentExtension.objects.create(extension="8001", user=service_agent)
    _key, raw = make_key(service_agent, Scope.TELEPHONY, name="hotline")

    login(page, "service_agent")
    pop = page.get_by_test_id("screen-pop")
    # The page listens to the agent's stream before the phone rings.
    page.locator("#screen-pop[data-state=open]").wait_for(state="attached")
    expect(pop).to_be_hidden()

    posted = time.monotonic()
    assert (
        _post_call(
            live_server,
            raw,
            event="ringing",
            call_id="pbx-20261203-0001",
            caller="135 1234 5678",
            extension="8001",
        )
        == 201
    )
    card = page.get_by_test_id("screen-pop-card")
    expect(card).to_be_visible(timeout=1000)
    shown_after = time.monotonic() - posted
    assert shown_after < 1.0, f"the card took {shown_after:.2f} s"
    expect(card.get_by_test_id("screen-pop-customer")).to_have_text("周大福")
    expect(card.get_by_test_id("screen-pop-number")).to_have_text("135 1234 5678")
    expect(card.get_by_test_id("screen-pop-owner")).to_contain_text(
        other_consultant.display_name
    )
    expect(card.get_by_test_id("screen-pop-unit")).to_contain_text(unit.number)
    screenshot("70-screen-pop-card")

    card.get_by_test_id("screen-pop-new-request").click()
    page.wait_for_url("**/service/requests/new/**")
    expect(page.locator("#id_mobile")).to_have_value("135 1234 5678")
    expect(page.locator(f"#caller-{owner.pk}")).to_be_checked()
    expect(page.locator(f"#unit-{unit.pk}")).to_be_checked()
    expect(page.locator("#id_channel")).to_have_value("phone")
    # The card of the call still going stays on the new page.
    expect(page.get_by_test_id("screen-pop-card")).to_be_visible()
    screenshot("71-screen-pop-prefilled-request")
