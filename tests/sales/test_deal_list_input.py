"""Malformed ids in a query string answer a page, never a 500: digits that are not
ASCII (², ①) pass str.isdigit() but not int() (crm_site.validation.parse_id)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from sales import services
from tests.factories import make_building
from tests.opening_fixtures import make_session, opening_project
from tests.portal_fixtures import owner_client_for

pytestmark = pytest.mark.django_db

MALFORMED = ["²", "①", "-1", "0", "99999999999999999999999", " "]


@pytest.mark.parametrize("param", ["project", "consultant"])
@pytest.mark.parametrize("value", MALFORMED)
def test_the_deal_list_ignores_a_malformed_filter(
    client, sales_manager, consultant, own_customer, param, value
):
    building = make_building()
    services.opportunity_open(
        actor=consultant, customer=own_customer, project=building.project
    )
    client.raise_request_exception = False
    client.force_login(sales_manager)

    response = client.get(reverse("sales:opportunity-list"), {param: value})

    assert response.status_code == 200
    # The filter is ignored: the team's deal is still listed.
    assert len(response.context["page"].items) == 1


def test_the_deal_list_still_filters_by_a_well_formed_project(
    client, sales_manager, consultant, own_customer
):
    building = make_building()
    services.opportunity_open(
        actor=consultant, customer=own_customer, project=building.project
    )
    other = make_building(project_name="别处").project
    client.force_login(sales_manager)
    url = reverse("sales:opportunity-list")
    assert len(client.get(url, {"project": building.project.pk}).context["page"].items)
    assert not client.get(url, {"project": other.pk}).context["page"].items
    assert len(client.get(url, {"consultant": consultant.pk}).context["page"].items)


@pytest.mark.parametrize("value", MALFORMED)
def test_the_session_console_ignores_a_malformed_printed_selection(
    client, consultant, sales_manager, team, value
):
    project, _units = opening_project(floors=2, per_floor=2)
    project.teams.add(team)
    session = make_session(project=project, created_by=sales_manager)
    client.raise_request_exception = False
    client.force_login(consultant)

    response = client.get(
        reverse("sales:session-console", args=[session.pk]), {"printed": value}
    )

    assert response.status_code == 200
    assert response.context["printed"] is None


@pytest.mark.parametrize("value", MALFORMED)
def test_the_buyers_session_page_ignores_a_malformed_taken_unit(online, value):
    _session, _units, entry, _rival = online
    client = owner_client_for(entry.deposit.customer)
    client.raise_request_exception = False

    response = client.get(
        reverse("sales_portal:opening-session", args=[entry.pk]), {"taken": value}
    )

    assert response.status_code == 200
    assert response.context["taken"] is None
