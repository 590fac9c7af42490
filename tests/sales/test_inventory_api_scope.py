"""The inventory API is scoped as the sales-control grid is: the projects the key's
user sells (sales.services.sessions.projects_visible_to), 404 outside them."""

from __future__ import annotations

import pytest

from crm_site.api.scopes import Scope
from tests.factories import make_building
from tests.helpers import assert_queries_do_not_grow

pytestmark = pytest.mark.django_db

INVENTORY = Scope.INVENTORY_READ


def _ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


@pytest.fixture
def their_building(other_team):
    """A building of a project only the other team sells."""
    building = make_building(project_name="安居·江南府")
    building.project.teams.add(other_team)
    return building


@pytest.fixture
def our_building(team):
    """A building of a project the consultant's team sells."""
    building = make_building(project_name="安居·御景湾")
    building.project.teams.add(team)
    return building


@pytest.fixture
def open_building(db):
    """A building of a project without teams: everyone at the sales desk sees it."""
    return make_building(project_name="安居·滨江苑")


def test_the_inventory_api_answers_404_for_a_project_another_team_sells(
    api_client, consultant, their_building
):
    client = api_client(consultant, INVENTORY)
    unit = their_building.units.order_by("pk").first()
    assert client.get(f"/api/v1/units/{unit.pk}/").status_code == 404
    assert client.get(f"/api/v1/buildings/{their_building.pk}/").status_code == 404
    project_id = their_building.project_id
    assert client.get(f"/api/v1/projects/{project_id}/").status_code == 404


def test_the_inventory_api_lists_only_the_projects_the_user_sells(
    api_client, consultant, their_building, our_building, open_building
):
    client = api_client(consultant, INVENTORY)
    assert _ids(client.get("/api/v1/projects/")) == {
        our_building.project_id,
        open_building.project_id,
    }
    assert _ids(client.get("/api/v1/buildings/")) == {our_building.pk, open_building.pk}
    assert _ids(
        client.get(f"/api/v1/buildings/?project={their_building.project_id}")
    ) == (set())
    units = _ids(client.get("/api/v1/units/?page_size=200"))
    assert units == set(our_building.units.values_list("pk", flat=True)) | set(
        open_building.units.values_list("pk", flat=True)
    )
    assert _ids(client.get(f"/api/v1/units/?building={their_building.pk}")) == set()
    assert (
        _ids(client.get(f"/api/v1/units/?project={their_building.project_id}")) == set()
    )


def test_a_consultant_of_the_other_team_reads_its_project(
    api_client, far_consultant, their_building
):
    client = api_client(far_consultant, INVENTORY)
    unit = their_building.units.order_by("pk").first()
    assert client.get(f"/api/v1/units/{unit.pk}/").status_code == 200
    assert client.get(f"/api/v1/buildings/{their_building.pk}/").status_code == 200
    assert _ids(client.get("/api/v1/projects/")) == {their_building.project_id}


def test_scoped_inventory_queries_do_not_grow_with_rows(
    api_client, consultant, team, other_team
):
    client = api_client(consultant, INVENTORY)
    make_building(floors=1, per_floor=1, skipped=()).project.teams.add(team)
    counter = iter(range(100))

    def more() -> None:
        n = next(counter)
        make_building(
            project_name=f"安居·{n}期", floors=3, per_floor=2
        ).project.teams.add(team if n % 2 else other_team)

    for path in ("/api/v1/projects/", "/api/v1/buildings/", "/api/v1/units/"):
        assert_queries_do_not_grow(
            lambda path=path: _ids(client.get(path)), more, at_most=6
        )
