"""A co-buyer (共同购房人) owns the unit for service: the service desk finds the unit
under the co-buyer's name, takes their repair request for it, and the signed
documents name every co-buyer."""

from __future__ import annotations

import pytest
from django.urls import reverse

from customers import services as customer_services
from sales import services
from sales.services.co_buyers import deal_co_buyers_set
from service import services as service_services
from service.selectors import caller_lookup
from tests.factories import CustomerFactory, make_building
from tests.helpers import count_queries
from tests.sales.test_changes_after_contract import signed_deal

pytestmark = pytest.mark.django_db


@pytest.fixture
def spouse(consultant, own_customer):
    spouse = CustomerFactory(
        name="王芳", mobile="+8613811112222", assigned_consultant=consultant
    )
    customer_services.household_link(
        actor=consultant, customer=own_customer, other=spouse, role="spouse"
    )
    return spouse


@pytest.fixture
def co_bought(consultant, own_customer, spouse):
    building = make_building()
    unit = building.units.order_by("pk").first()
    deal = services.opportunity_open(
        actor=consultant, customer=own_customer, project=building.project
    )
    services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    deal_co_buyers_set(actor=consultant, deal=deal, customers=[spouse])
    deal.refresh_from_db()
    return deal


def test_a_co_buyer_owns_the_unit_only_once_the_deal_is_bought(
    co_bought, consultant, spouse, own_customer
):
    assert service_services.owner_units(spouse) == []
    services.unit_subscribe(actor=consultant, opportunity=co_bought)
    owned = service_services.units_owned_by([own_customer.pk, spouse.pk])
    assert owned[spouse.pk] == [co_bought.unit] == owned[own_customer.pk]


def test_the_owner_lookup_is_one_query_whatever_the_number_of_co_buyers(
    co_bought, consultant, spouse, own_customer
):
    services.unit_subscribe(actor=consultant, opportunity=co_bought)
    others = [CustomerFactory() for _ in range(3)]
    ids = [own_customer.pk, spouse.pk, *(c.pk for c in others)]
    assert count_queries(lambda: service_services.units_owned_by(ids)) == 1


def test_a_co_buyer_calling_about_a_repair_gets_a_repair_request_for_the_unit(
    co_bought, consultant, spouse, service_agent
):
    services.unit_subscribe(actor=consultant, opportunity=co_bought)
    intake = service_services.request_intake(
        actor=service_agent,
        caller=spouse,
        unit=None,
        kind="repair",
        category="other",
        severity="normal",
        channel="phone",
        description="厨房漏水",
    )
    assert not intake.as_enquiry
    assert intake.request.kind == "repair" and intake.request.unit == co_bought.unit
    found = caller_lookup(user=service_agent, text="+8613811112222")
    assert found.picked.owns and found.picked.owned_units == [co_bought.unit]


def test_the_signed_documents_name_every_co_buyer(
    client, co_bought, consultant, spouse, own_customer
):
    services.unit_subscribe(actor=consultant, opportunity=co_bought)
    services.opportunity_contract(actor=consultant, opportunity=co_bought)
    client.force_login(consultant)
    for document in ("selection", "subscription"):
        response = client.get(
            reverse("sales:opportunity-print", args=[co_bought.pk, document])
        )
        assert response.status_code == 200
        assert response.content.count(b'data-testid="co-buyer"') == 1
        assert spouse.name.encode() in response.content


def test_a_buyer_change_to_the_co_buyer_makes_them_the_buyer_not_a_co_buyer(
    consultant, own_customer, spouse, sales_manager
):
    building = make_building()
    deal = signed_deal(consultant, own_customer, building.units.order_by("pk").first())
    deal.co_buyers.create(customer=spouse)
    change = services.deal_change_request(
        actor=consultant,
        opportunity=deal,
        kind="change_buyer",
        reason="更名",
        new_customer=spouse,
    )
    services.deal_change_decide(actor=sales_manager, change=change, approve=True)
    assert not deal.co_buyers.exists()
    assert service_services.owner_units(spouse) == [deal.unit]
