from __future__ import annotations

import pytest
from django.urls import reverse

from sales import services
from sales.models import Building, Opportunity, Unit
from tests.factories import CustomerFactory, make_building
from tests.helpers import assert_queries_do_not_grow


@pytest.fixture
def building(db):
    return make_building()


def grid(b):
    return reverse("sales:building-grid", args=[b.pk])


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("consultant", 200),
        ("sales_manager", 200),
        ("executive", 200),
        ("administrator", 200),
        ("service_agent", 403),
        ("marketer", 403),
        ("outsider", 403),
    ],
    indirect=["persona"],
)
def test_grid_permission_matrix(client, building, persona, status):
    client.force_login(persona)
    assert client.get(grid(building)).status_code == status
    assert (
        client.get(reverse("sales:building-grid-cells", args=[building.pk])).status_code
        == status
    )


def test_grid_shows_every_unit_with_status_counts(client, consultant, building):
    client.force_login(consultant)
    body = client.get(grid(building)).content.decode()
    assert body.count("unit-cell") == 10
    assert 'hx-trigger="every 10s"' in body


def test_grid_filter_dims_units_that_do_not_match(client, consultant, building):
    Unit.objects.filter(building=building, floor=1).update(layout="2室2厅1卫")
    client.force_login(consultant)
    body = client.get(grid(building), {"layout": "2室2厅1卫"}).content.decode()
    assert body.count("unit-dim") == 8


def test_grid_query_count_does_not_grow_with_units(client, consultant, building):
    client.force_login(consultant)
    big = make_building(project_name="大楼盘", floors=33, per_floor=8, skipped=())
    small_count = None

    def run():
        client.get(grid(building))

    assert_queries_do_not_grow(run, lambda: None, at_most=8)
    from tests.helpers import count_queries

    small_count = count_queries(run)
    assert count_queries(lambda: client.get(grid(big))) <= small_count


def test_missing_building_is_404(client, consultant):
    client.force_login(consultant)
    assert client.get(reverse("sales:building-grid", args=[999999])).status_code == 404


BUILDING_FORM = {
    "name": "9号楼",
    "floors": "6",
    "units_per_floor": "2",
    "skipped_floors": "4",
    "layouts": "3室2厅2卫, 2室2厅1卫",
    "gross_areas": "120, 89.5",
    "base_price": "30000",
    "floor_increment": "100",
}


def test_sales_manager_generates_a_building(client, sales_manager, building):
    client.force_login(sales_manager)
    data = {**BUILDING_FORM, "project": building.project.pk}
    response = client.post(reverse("sales:building-create"), data)
    created = Building.objects.get(name="9号楼")
    assert response.status_code == 302 and response.url == grid(created)
    assert created.units.count() == 12
    assert not created.units.filter(floor=4).exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("layouts", "3室2厅2卫"),
        ("gross_areas", "120, abc"),
        ("skipped_floors", "四"),
        ("floors", "0"),
        ("gross_areas", "120, -3"),
    ],
)
def test_building_form_refuses_bad_input_and_creates_nothing(
    client, sales_manager, building, field, value
):
    client.force_login(sales_manager)
    data = {**BUILDING_FORM, "project": building.project.pk, field: value}
    response = client.post(reverse("sales:building-create"), data)
    assert response.status_code == 200 and field in response.context["form"].errors
    assert not Building.objects.filter(name="9号楼").exists()


def test_consultants_may_not_generate_buildings(client, consultant):
    client.force_login(consultant)
    assert client.get(reverse("sales:building-create")).status_code == 403


def test_consultant_reserves_a_unit_by_customer_phone_and_a_colleague_sees_it_taken(
    client, consultant, other_consultant, own_customer, building
):
    unit = building.units.order_by("floor", "position").first()
    client.force_login(consultant)
    response = client.post(
        reverse("sales:unit-reserve", args=[unit.pk]), {"mobile": "138 0013 8000"}
    )
    assert response.status_code == 302
    unit.refresh_from_db()
    assert unit.status == "reserved"
    deal = Opportunity.objects.get()
    assert deal.customer == own_customer and deal.consultant == consultant
    client.force_login(other_consultant)
    page = client.get(reverse("sales:unit-detail", args=[unit.pk])).content.decode()
    assert 'data-testid="unit-taken"' in page
    rival = services.opportunity_open(
        actor=other_consultant,
        customer=CustomerFactory(assigned_consultant=other_consultant),
        project=building.project,
    )
    client.post(
        reverse("sales:unit-reserve", args=[unit.pk]), {"opportunity": rival.pk}
    )
    rival.refresh_from_db()
    assert rival.unit is None


def test_reserve_refuses_a_customer_outside_the_consultants_scope(
    client, consultant, others_customer, building
):
    unit = building.units.first()
    client.force_login(consultant)
    client.post(
        reverse("sales:unit-reserve", args=[unit.pk]), {"mobile": "139 0013 9000"}
    )
    unit.refresh_from_db()
    assert unit.status == "available" and not Opportunity.objects.exists()


def test_reserve_cannot_use_another_consultants_deal(
    client, consultant, other_consultant, others_customer, building
):
    rival = services.opportunity_open(
        actor=other_consultant, customer=others_customer, project=building.project
    )
    client.force_login(consultant)
    client.post(
        reverse("sales:unit-reserve", args=[building.units.first().pk]),
        {"opportunity": rival.pk},
    )
    rival.refresh_from_db()
    assert rival.unit is None


def test_reserve_is_post_only(client, consultant, building):
    client.force_login(consultant)
    assert (
        client.get(
            reverse("sales:unit-reserve", args=[building.units.first().pk])
        ).status_code
        == 405
    )


def test_a_unit_whose_hold_has_lapsed_offers_the_hold_form_before_the_sweep(
    client, consultant, other_consultant, own_customer, building
):
    """The unit still reads "reserved" until the five-minute sweep, but unit_reserve
    ends a lapsed hold itself: the page says the hold has ended and offers the form."""
    from datetime import timedelta

    from django.utils import timezone

    from sales.models import UnitHold

    unit = building.units.order_by("floor", "position").first()
    client.force_login(consultant)
    client.post(
        reverse("sales:unit-reserve", args=[unit.pk]), {"mobile": "138 0013 8000"}
    )
    UnitHold.objects.filter(unit=unit).update(
        held_until=timezone.now() - timedelta(minutes=1)
    )
    client.force_login(other_consultant)

    page = client.get(
        reverse("sales:unit-detail", args=[unit.pk]), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()

    assert 'data-testid="reserve-form"' in page
    assert 'data-testid="hold-lapsed"' in page
    assert "The previous hold has ended" in page
    assert 'data-testid="unit-taken"' not in page
    rival = services.opportunity_open(
        actor=other_consultant,
        customer=CustomerFactory(assigned_consultant=other_consultant),
        project=building.project,
    )
    client.post(
        reverse("sales:unit-reserve", args=[unit.pk]), {"opportunity": rival.pk}
    )
    rival.refresh_from_db()
    assert rival.unit == unit


def test_a_unit_held_until_later_offers_no_hold_form(
    client, consultant, other_consultant, own_customer, building
):
    unit = building.units.order_by("floor", "position").first()
    client.force_login(consultant)
    client.post(
        reverse("sales:unit-reserve", args=[unit.pk]), {"mobile": "138 0013 8000"}
    )
    client.force_login(other_consultant)

    page = client.get(reverse("sales:unit-detail", args=[unit.pk])).content.decode()

    assert 'data-testid="reserve-form"' not in page
    assert 'data-testid="hold-lapsed"' not in page
