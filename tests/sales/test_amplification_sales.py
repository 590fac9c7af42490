"""Request-size amplification on the sales pages: one request may not make the
server do work in proportion to a number or a list the request chooses."""

from __future__ import annotations

import pytest
from django.urls import reverse

from sales.models import Building
from tests.factories import make_building
from tests.sales.test_inventory_views import BUILDING_FORM


@pytest.fixture
def building(db):
    return make_building()


def _skipped(count: int) -> str:
    return ", ".join(str(n) for n in range(1, count + 1))


def test_building_form_refuses_a_list_of_skipped_floors_no_building_needs(
    client, sales_manager, building
):
    # Each floor number was looked up in the whole list: 30,000 numbers (170 KB) cost
    # 3.5 s of CPU, a full 2.5 MB body minutes, inside the transaction.
    client.force_login(sales_manager)
    data = {**BUILDING_FORM, "project": building.project.pk}
    response = client.post(
        reverse("sales:building-create"), {**data, "skipped_floors": _skipped(1000)}
    )
    assert response.status_code == 200
    assert "skipped_floors" in response.context["form"].errors
    assert not Building.objects.filter(name="9号楼").exists()


def test_building_form_takes_thirty_units_a_floor_with_long_layout_names(
    client, sales_manager, building
):
    client.force_login(sales_manager)
    data = {
        **BUILDING_FORM,
        "project": building.project.pk,
        "floors": "2",
        "units_per_floor": "30",
        "skipped_floors": "4, 13, 14, 24, 34, 40, 41, 42, 43, 44, 45, 46, 47, 48",
        "layouts": ", ".join(["四室两厅两卫带入户花园及双阳台" * 3] * 30),
        "gross_areas": ", ".join(["1999.99"] * 30),
    }
    response = client.post(reverse("sales:building-create"), data)
    assert response.status_code == 302, response.context["form"].errors
    assert Building.objects.get(name="9号楼").units.count() == 60


def test_a_layout_name_longer_than_a_unit_keeps_is_refused_next_to_the_field(
    client, sales_manager, building
):
    client.force_login(sales_manager)
    data = {**BUILDING_FORM, "project": building.project.pk, "layouts": "大" * 51}
    response = client.post(reverse("sales:building-create"), data)
    assert response.status_code == 200
    assert "layouts" in response.context["form"].errors
    assert not Building.objects.filter(name="9号楼").exists()


def test_the_pools_search_reads_at_most_a_hundred_characters_like_every_search(
    client, consultant, pool_customer
):
    client.force_login(consultant)
    response = client.get(reverse("sales:pool"), {"q": "钱七" + "x" * 8_000})
    assert response.status_code == 200
    assert len(response.context["query"]) == 100
    found = client.get(reverse("sales:pool"), {"q": "  钱七  "})
    assert found.context["query"] == "钱七"
