"""Every sales page for every persona: who may open it, who gets 403 or 404."""

from __future__ import annotations

import pytest
from django.urls import reverse

from sales import services
from tests.factories import make_building

PERSONAS = [
    "consultant",
    "other_consultant",
    "sales_manager",
    "service_agent",
    "marketer",
    "executive",
    "administrator",
    "outsider",
]
SALES_ROLES = {
    "consultant",
    "other_consultant",
    "sales_manager",
    "executive",
    "administrator",
}
MANAGERS = {"sales_manager", "executive", "administrator"}
INVENTORY = {"sales_manager", "administrator"}
# The deal belongs to `consultant`: colleagues outside its scope get 404.
DEAL_SCOPE = {"consultant", "sales_manager", "executive", "administrator"}


@pytest.fixture
def world(consultant, own_customer):
    building = make_building()
    deal = services.opportunity_open(
        actor=consultant, customer=own_customer, project=building.project
    )
    unit = building.units.first()
    return {"building": building, "deal": deal, "unit": unit, "customer": own_customer}


def pages(world):
    b, d, u, c = world["building"], world["deal"], world["unit"], world["customer"]
    yield reverse("sales:home"), SALES_ROLES
    yield reverse("sales:building-grid", args=[b.pk]), SALES_ROLES
    yield reverse("sales:building-grid-cells", args=[b.pk]), SALES_ROLES
    yield reverse("sales:unit-detail", args=[u.pk]), SALES_ROLES
    yield reverse("sales:opportunity-list"), SALES_ROLES
    yield reverse("sales:opportunity-board"), SALES_ROLES
    yield reverse("sales:payments-overdue"), SALES_ROLES
    yield reverse("sales:opportunity-detail", args=[d.pk]), ("deal", DEAL_SCOPE)
    yield (
        reverse("sales:opportunity-print", args=[d.pk, "selection"]),
        ("deal-404", set()),
    )
    yield (
        reverse("sales:opportunity-open", args=[c.pk]),
        ("customer", {"consultant", "sales_manager", "administrator"}),
    )
    yield reverse("sales:dashboard"), MANAGERS
    yield reverse("sales:approval-list"), MANAGERS
    yield reverse("sales:building-create"), INVENTORY
    yield reverse("sales:unit-import"), INVENTORY
    yield reverse("sales:price-plan", args=[b.pk]), INVENTORY


@pytest.mark.parametrize("persona", PERSONAS, indirect=True)
def test_every_sales_page_checks_role_and_scope(client, persona, world, request):
    name = next(n for n in PERSONAS if request.getfixturevalue(n) == persona)
    client.force_login(persona)
    for url, rule in pages(world):
        status = client.get(url).status_code
        if isinstance(rule, set):
            expected = 200 if name in rule else 403
        else:
            kind, allowed = rule
            if name not in SALES_ROLES:
                expected = 403
            elif kind == "deal-404":
                # The deal holds no unit yet, so there is nothing to print.
                expected = 404
            elif kind == "customer" and name in {"executive"}:
                expected = 403  # sees the sales desk but opens no deal
            else:
                expected = 200 if name in allowed else 404
        assert status == expected, (name, url, status)
