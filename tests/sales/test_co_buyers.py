"""Co-buyers (共同购房人): named on the deal from the buyer's household, on its documents."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from crm_site.models import AuditEntry
from customers import services as customer_services
from customers.services.merge import customer_merge
from sales import services
from sales.models import CoBuyer
from sales.services.co_buyers import deal_co_buyers_set
from tests.factories import CustomerFactory, make_building

pytestmark = pytest.mark.django_db


@pytest.fixture
def held(consultant, own_customer):
    building = make_building()
    deal = services.opportunity_open(
        actor=consultant, customer=own_customer, project=building.project
    )
    services.unit_reserve(
        actor=consultant, opportunity=deal, unit=building.units.order_by("pk").first()
    )
    deal.refresh_from_db()
    return deal


@pytest.fixture
def spouse(consultant, own_customer):
    spouse = CustomerFactory(
        name="王芳",
        mobile="+8613811112222",
        id_type="resident_id",
        id_number="110101199003071234",
        assigned_consultant=consultant,
    )
    customer_services.household_link(
        actor=consultant, customer=own_customer, other=spouse, role="spouse"
    )
    return spouse


def test_the_consultant_names_a_household_member_and_the_change_is_audited(
    client, consultant, held, spouse
):
    client.force_login(consultant)
    page = client.get(held.get_absolute_url()).content.decode()
    assert 'data-testid="co-buyers"' in page and "王芳" in page

    response = client.post(
        reverse("sales:opportunity-co-buyers", args=[held.pk]),
        {"co_buyers": [spouse.pk]},
        follow=True,
    )
    assert list(held.co_buyers.values_list("customer", flat=True)) == [spouse.pk]
    assert "王芳" in response.content.decode()
    entry = AuditEntry.objects.filter(object_id=held.pk, changes__has_key="co_buyers")
    assert entry.get().changes["co_buyers"]["new"] == f"王芳 (#{spouse.pk})"


def test_someone_outside_the_household_is_refused_and_nothing_is_saved(
    consultant, held, spouse
):
    stranger = CustomerFactory(assigned_consultant=consultant)
    with pytest.raises(ValidationError):
        deal_co_buyers_set(actor=consultant, deal=held, customers=[spouse, stranger])
    assert not CoBuyer.objects.exists()


def test_co_buyers_are_settled_at_contract(consultant, held, spouse):
    services.unit_subscribe(actor=consultant, opportunity=held)
    services.opportunity_contract(actor=consultant, opportunity=held)
    held.refresh_from_db()
    with pytest.raises(ValidationError):
        deal_co_buyers_set(actor=consultant, deal=held, customers=[spouse])


def test_documents_name_every_co_buyer_with_numbers_masked_for_the_role(
    client, consultant, executive, held, spouse
):
    deal_co_buyers_set(actor=consultant, deal=held, customers=[spouse])
    services.unit_subscribe(actor=consultant, opportunity=held)
    url = reverse("sales:opportunity-print", args=[held.pk, "subscription"])

    client.force_login(consultant)
    own = client.get(url).content.decode()
    assert own.count('data-testid="co-buyer"') == 1
    assert "王芳" in own and "110101199003071234" in own and "138 1111 2222" in own

    # An executive reads every deal but sees no full numbers.
    client.force_login(executive)
    masked = client.get(url).content.decode()
    assert "王芳" in masked and "110101199003071234" not in masked
    assert "138 1111 2222" not in masked

    selection = client.get(
        reverse("sales:opportunity-print", args=[held.pk, "selection"])
    ).content.decode()
    assert "王芳" in selection


def test_a_merged_co_buyer_moves_to_the_survivor(consultant, held, spouse):
    deal_co_buyers_set(actor=consultant, deal=held, customers=[spouse])
    twin = CustomerFactory(name="王芳", assigned_consultant=consultant)
    customer_merge(actor=consultant, survivor=twin, absorbed=spouse, choices={})
    assert CoBuyer.objects.get().customer == twin
