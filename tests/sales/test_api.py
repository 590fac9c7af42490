"""The sales' REST resources: inventory (projects, buildings, units) and deals."""

from __future__ import annotations

import pytest

from crm_site.api.scopes import Scope
from sales import services
from sales.models import Unit
from tests.factories import CustomerFactory, make_building
from tests.helpers import assert_queries_do_not_grow

pytestmark = pytest.mark.django_db

INVENTORY = Scope.INVENTORY_READ
DEALS = Scope.DEALS_READ
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}


def _rows(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


def _problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    return response.json()


@pytest.fixture
def building(db):
    return make_building()


@pytest.fixture
def deal(building, consultant, own_customer):
    return services.opportunity_open(
        actor=consultant, customer=own_customer, project=building.project
    )


# ---------------------------------------------------------------------- inventory


def test_inventory_lists_projects_buildings_and_units(api_client, consultant, building):
    client = api_client(consultant, INVENTORY)
    projects = _rows(client.get("/api/v1/projects/"))
    assert [p["name"] for p in projects] == ["安居·御景湾"]
    project_id = projects[0]["id"]
    buildings = _rows(client.get(f"/api/v1/buildings/?project={project_id}"))
    assert [b["id"] for b in buildings] == [building.pk]
    units = _rows(client.get(f"/api/v1/units/?building={building.pk}&page_size=200"))
    assert len(units) == building.units.count()
    unit = Unit.objects.get(pk=units[0]["id"])
    assert units[0]["list_price"] == str(unit.list_price)
    assert units[0]["status"] == "available"
    assert units[0]["project"] == project_id
    # A consultant's negotiating floor is internal.
    assert "floor_price" not in units[0]
    detail = client.get(f"/api/v1/units/{unit.pk}/", **EN).json()
    assert detail["status_label"] == "Available"
    assert client.get(f"/api/v1/projects/{project_id}/").status_code == 200
    assert client.get(f"/api/v1/buildings/{building.pk}/").status_code == 200


def test_units_filtered_by_project_building_and_status(
    api_client, consultant, building, deal
):
    other = make_building(project_name="安居·江南府")
    unit = building.units.order_by("pk").first()
    services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    client = api_client(consultant, INVENTORY)
    reserved = _rows(client.get("/api/v1/units/?status=reserved"))
    assert [u["id"] for u in reserved] == [unit.pk]
    assert reserved[0]["status"] == "reserved"
    theirs = _rows(
        client.get(f"/api/v1/units/?project={other.project_id}&page_size=200")
    )
    assert {u["building"] for u in theirs} == {other.pk}
    assert (
        _rows(client.get(f"/api/v1/units/?building={other.pk}&status=reserved")) == []
    )
    body = _problem(client.get("/api/v1/units/?status=sold"), 422)
    assert [e["field"] for e in body["errors"]] == ["status"]
    _problem(client.get("/api/v1/units/?project=x"), 422)


def test_inventory_needs_its_scope_and_the_sales_desk(
    api_client, consultant, marketer, building
):
    _problem(api_client(consultant, DEALS).get("/api/v1/units/"), 403)
    # Marketing does not see the sales desk in the UI, nor its inventory here.
    _problem(api_client(marketer, INVENTORY).get("/api/v1/projects/"), 403)
    _problem(api_client(consultant, INVENTORY).get("/api/v1/units/999999/"), 404)


def test_inventory_is_read_only(api_client, sales_manager, building):
    client = api_client(sales_manager, INVENTORY)
    unit = building.units.first()
    assert client.post("/api/v1/units/", {}, format="json").status_code in (403, 405)
    response = client.patch(f"/api/v1/units/{unit.pk}/", {"status": "sold"})
    assert response.status_code in (403, 405)


def test_unit_list_queries_do_not_grow_with_rows(api_client, consultant):
    client = api_client(consultant, INVENTORY)
    make_building(floors=1, per_floor=1, skipped=())
    assert_queries_do_not_grow(
        lambda: _rows(client.get("/api/v1/units/")),
        lambda: make_building(project_name="安居·二期", floors=5, per_floor=3),
        at_most=6,
    )


# -------------------------------------------------------------------------- deals


def test_consultant_reads_own_deal_with_its_stage_history(
    api_client, consultant, deal, building
):
    unit = building.units.order_by("pk").first()
    services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    client = api_client(consultant, DEALS)
    body = client.get(f"/api/v1/deals/{deal.pk}/", **EN).json()
    assert body["customer"] == {"id": deal.customer_id, "name": "张三"}
    assert body["stage"] == "reserved"
    assert body["unit"]["id"] == unit.pk
    assert body["consultant"]["id"] == consultant.pk
    history = body["stage_history"]
    assert [(h["from_stage"], h["to_stage"]) for h in history] == [("new", "reserved")]
    assert history[0]["to_stage_label"] == "Reserved"
    assert history[0]["changed_by"]["id"] == consultant.pk
    chinese = client.get(f"/api/v1/deals/{deal.pk}/", **ZH).json()
    assert chinese["stage_history"][0]["to_stage_label"] != "Reserved"


def test_deals_are_scoped_as_the_sales_desk_scopes_them(
    api_client, consultant, other_consultant, sales_manager, deal, building, team
):
    theirs = services.opportunity_open(
        actor=other_consultant,
        customer=CustomerFactory(assigned_consultant=other_consultant),
        project=building.project,
    )
    mine = api_client(consultant, DEALS)
    assert [d["id"] for d in _rows(mine.get("/api/v1/deals/"))] == [deal.pk]
    _problem(mine.get(f"/api/v1/deals/{theirs.pk}/"), 404)
    manager = api_client(sales_manager, DEALS)
    assert {d["id"] for d in _rows(manager.get("/api/v1/deals/"))} == {
        deal.pk,
        theirs.pk,
    }


def test_deals_filtered_by_customer_stage_and_project(
    api_client, consultant, deal, building
):
    other = make_building(project_name="安居·江南府")
    second = services.opportunity_open(
        actor=consultant, customer=deal.customer, project=other.project
    )
    client = api_client(consultant, DEALS)

    def ids(query: str) -> list[int]:
        return [d["id"] for d in _rows(client.get(f"/api/v1/deals/?{query}"))]

    assert ids(f"customer={deal.customer_id}") == [second.pk, deal.pk]
    assert ids(f"project={other.project_id}") == [second.pk]
    assert ids("stage=new") == [second.pk, deal.pk]
    assert ids("stage=paid") == []
    _problem(client.get("/api/v1/deals/?stage=won"), 422)


def test_deals_need_their_scope_and_the_sales_desk(
    api_client, consultant, service_agent, deal
):
    _problem(api_client(consultant, INVENTORY).get("/api/v1/deals/"), 403)
    _problem(api_client(service_agent, DEALS).get("/api/v1/deals/"), 403)


def test_deal_list_queries_do_not_grow_with_rows(
    api_client, consultant, building, deal
):
    client = api_client(consultant, DEALS)
    units = list(building.units.order_by("pk"))
    services.unit_reserve(actor=consultant, opportunity=deal, unit=units[0])

    def grow():
        for unit in units[1:5]:
            more = services.opportunity_open(
                actor=consultant,
                customer=CustomerFactory(assigned_consultant=consultant),
                project=building.project,
            )
            services.unit_reserve(actor=consultant, opportunity=more, unit=unit)

    assert_queries_do_not_grow(
        lambda: _rows(client.get("/api/v1/deals/")), grow, at_most=8
    )
