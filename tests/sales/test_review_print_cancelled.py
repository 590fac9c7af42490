"""A selection's confirmation (认购确认书) prints only while the selection stands:
after 退房 the unit is back on sale, after 换房 the deal holds another unit — a
signed sheet naming the buyer for the old unit must not come out of the printer."""

from __future__ import annotations

import pytest
from django.urls import reverse

from sales import services
from sales.models import Selection
from sales.services import sessions as session_service
from sales.services.opening import selection_make
from tests.factories import make_building
from tests.opening_fixtures import enter, make_deposit, make_session, opening_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def chosen(consultant, sales_manager, team):
    project, units = opening_project(floors=4, per_floor=2)
    project.teams.add(team)
    session = make_session(project=project, created_by=sales_manager)
    entry = enter(session, make_deposit(project=project, consultant=consultant))
    session_service.session_call(
        actor=sales_manager, session=session, position=entry.position
    )
    selection = selection_make(
        session=session, entry=entry, unit=units[0], channel="on_site", actor=consultant
    )
    return selection, units


def test_a_cancelled_selection_no_longer_prints_its_confirmation(
    client, consultant, sales_manager, chosen
):
    selection, _units = chosen
    url = reverse("sales:selection-print", args=[selection.pk])
    client.force_login(consultant)
    assert client.get(url).status_code == 200
    change = services.deal_change_request(
        actor=consultant,
        opportunity=selection.opportunity,
        kind="cancel",
        reason="客户放弃",
    )
    services.deal_change_decide(actor=sales_manager, change=change, approve=True)
    selection.refresh_from_db()
    assert selection.cancelled_at is not None
    assert client.get(url).status_code == 404


def test_a_selection_whose_deal_moved_to_another_unit_no_longer_prints(
    client, consultant, sales_manager, chosen
):
    selection, units = chosen
    # A unit of the project outside the session (its own are sold only there).
    other = make_building(project_name=units[0].building.project.name)
    new_unit = other.units.order_by("pk").first()
    change = services.deal_change_request(
        actor=consultant,
        opportunity=selection.opportunity,
        kind="change_unit",
        reason="换个楼层",
        new_unit=new_unit,
    )
    services.deal_change_decide(actor=sales_manager, change=change, approve=True)
    assert Selection.objects.get(pk=selection.pk).cancelled_at is not None
    client.force_login(consultant)
    response = client.get(reverse("sales:selection-print", args=[selection.pk]))
    assert response.status_code == 404
