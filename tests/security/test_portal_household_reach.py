"""An owner's homes are the deals they bought, as buyer or co-buyer: not every deal
of every member of their household. A and B co-own a home; B later buys another
with C: A sees nothing of that other home (nor of C), and C nothing of A's."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from customers.services import customer_update, household_link
from sales.models import Unit
from sales.services import opportunity_open, unit_reserve, unit_subscribe
from sales.services.co_buyers import deal_co_buyers_set
from service import mailbox, portal_requests, services
from service.models import HandoverAppointment, OwnerLetter, ServiceRequest
from tests.factories import CustomerFactory, make_building
from tests.portal_fixtures import owner_client_for
from tests.service.test_portal_handover import _handover

pytestmark = pytest.mark.django_db

CATEGORY = ServiceRequest._meta.get_field("category").choices[0][0]


@pytest.fixture
def other_home(owner_household, consultant):
    """The co-buyer left the household (a divorce) and later bought another home
    with a new partner; the first home stays co-owned."""
    co_buyer = owner_household.co_buyer
    customer_update(
        actor=consultant, customer=co_buyer, household=None, household_role=""
    )
    partner = CustomerFactory(
        name="卫新伴", mobile="+8613812340055", assigned_consultant=consultant
    )
    household_link(actor=consultant, customer=co_buyer, other=partner, role="spouse")
    co_buyer.refresh_from_db()
    deal = _bought(consultant, co_buyer, partner, project_name="安居·新居苑")
    return SimpleNamespace(deal=deal, unit=deal.unit, buyer=co_buyer, partner=partner)


def _bought(consultant, buyer, co_buyer, *, project_name: str):
    """A subscribed deal of the buyer with the co-buyer, on a unit of a new building."""
    building = make_building(project_name=project_name, floors=3, per_floor=2)
    if consultant.team_id:
        building.project.teams.add(consultant.team)
    unit = Unit.objects.filter(building=building).order_by("floor", "position").first()
    deal = opportunity_open(actor=consultant, customer=buyer, project=building.project)
    unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    deal_co_buyers_set(actor=consultant, deal=deal, customers=[co_buyer])
    deal = unit_subscribe(actor=consultant, opportunity=deal)
    deal.unit.refresh_from_db()
    return deal


def _request(customer, unit, description: str) -> ServiceRequest:
    return services.request_create(
        actor=None,
        customer=customer,
        unit=unit,
        kind="repair",
        category=CATEGORY,
        severity="normal",
        channel=ServiceRequest.Channel.PORTAL,
        description=description,
    )


def test_an_owner_does_not_see_a_home_their_co_buyer_bought_with_someone_else(
    owner_client, owner_household, other_home
):
    homes = owner_client.get(reverse("sales_portal:homes")).content.decode()
    assert owner_household.unit.building.project.name in homes
    assert other_home.partner.name not in homes
    assert other_home.unit.building.project.name not in homes
    detail = owner_client.get(
        reverse("sales_portal:home-detail", args=[other_home.deal.pk])
    )
    assert detail.status_code == 404
    for document in ("subscription", "selection"):
        printed = owner_client.get(
            reverse("sales_portal:document", args=[other_home.deal.pk, document])
        )
        assert printed.status_code == 404


def test_an_owners_payments_are_those_of_their_own_homes(
    owner_client, owner_household, other_home
):
    plans = owner_client.get(reverse("sales_portal:payments")).context["plans"]
    assert [plan.deal.pk for plan in plans] == [owner_household.deal.pk]


def test_the_co_buyer_still_sees_both_of_their_homes(owner_household, other_home):
    client = owner_client_for(owner_household.co_buyer)
    homes = client.get(reverse("sales_portal:homes")).context["homes"]
    assert {home["deal"].pk for home in homes} == {
        owner_household.deal.pk,
        other_home.deal.pk,
    }


def test_the_new_partner_does_not_see_the_first_home(owner_household, other_home):
    client = owner_client_for(other_home.partner)
    homes = client.get(reverse("sales_portal:homes")).content.decode()
    assert other_home.unit.building.project.name in homes
    assert owner_household.buyer.name not in homes
    assert owner_household.unit.building.project.name not in homes
    detail = client.get(
        reverse("sales_portal:home-detail", args=[owner_household.deal.pk])
    )
    assert detail.status_code == 404


def test_an_owner_cannot_report_a_repair_on_a_home_that_is_not_theirs(
    owner_client, owner_household, other_home
):
    page = owner_client.get(reverse("service_portal:request-create"))
    assert [unit.pk for unit in page.context["units"]] == [owner_household.unit.pk]
    response = owner_client.post(
        reverse("service_portal:request-create"),
        {
            "unit": other_home.unit.pk,
            "kind": "repair",
            "category": CATEGORY,
            "description": "门锁坏了",
        },
    )
    assert response.status_code == 400
    assert not ServiceRequest.objects.filter(unit=other_home.unit).exists()


def test_the_service_refuses_a_household_members_other_home_too(
    owner_household, other_home
):
    household = frozenset({owner_household.buyer.pk, owner_household.co_buyer.pk})
    with pytest.raises(ValidationError) as caught:
        portal_requests.portal_request_submit(
            owner=owner_household.buyer,
            household_ids=household,
            unit=other_home.unit,
            kind="repair",
            category=CATEGORY,
            description="门锁坏了",
        )
    assert "unit" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        mailbox.letter_write(
            owner=owner_household.buyer,
            household_ids=household,
            subject="门禁",
            body="门禁卡失灵。",
            unit=other_home.unit,
        )
    assert "unit" in caught.value.message_dict
    assert not ServiceRequest.objects.exists()
    assert not OwnerLetter.objects.exists()


def test_an_owner_follows_the_requests_about_their_homes_not_the_other_home(
    owner_client, owner_household, other_home
):
    shared = _request(owner_household.co_buyer, owner_household.unit, "阳台漏水")
    elsewhere = _request(other_home.buyer, other_home.unit, "新居门锁坏了")
    partners = _request(other_home.partner, other_home.unit, "新居水管漏水")
    own = _request(owner_household.buyer, None, "物业响应慢")
    listed = owner_client.get(reverse("service_portal:request-list"))
    assert {item.pk for item in listed.context["page"].items} == {shared.pk, own.pk}
    for item in (elsewhere, partners):
        detail = owner_client.get(
            reverse("service_portal:request-detail", args=[item.pk])
        )
        assert detail.status_code == 404
    # The co-buyer follows both homes' requests of theirs.
    client = owner_client_for(owner_household.co_buyer)
    listed = client.get(reverse("service_portal:request-list"))
    assert {item.pk for item in listed.context["page"].items} == {
        shared.pk,
        elsewhere.pk,
        partners.pk,
    }


def test_an_owner_cannot_book_the_handover_of_the_other_home(
    owner_client, owner_household, other_home, service_manager, consultant
):
    appointment, (morning, _afternoon) = _handover(
        other_home, service_manager, consultant
    )
    assert appointment.customer == other_home.buyer
    url = reverse("service_portal:handover-booking", args=[appointment.pk])
    assert owner_client.get(url).status_code == 404
    owner_client.post(url, {"slot": morning.pk})
    assert not HandoverAppointment.objects.filter(
        pk=appointment.pk, slot__isnull=False
    ).exists()
    # Its buyer, whose home it is, books it.
    assert owner_client_for(other_home.buyer).get(url).status_code == 200


def test_an_owners_pages_stay_flat_with_a_co_buyers_other_homes(
    owner_client, owner_household, other_home, consultant, django_assert_max_num_queries
):
    """The owner's deals are one look-up per page, whatever else the household
    bought."""
    url = reverse("sales_portal:homes")
    owner_client.get(url)
    with django_assert_max_num_queries(14) as first:
        owner_client.get(url)
    baseline = len(first.captured_queries)
    _bought(consultant, other_home.buyer, other_home.partner, project_name="安居·三期")
    assert len(owner_client.get(url).context["homes"]) == 1
    with django_assert_max_num_queries(baseline):
        owner_client.get(url)
