"""The edit form hands out no number the user sees masked on the customer page, and a
masked number sent back keeps the stored one."""

from __future__ import annotations

import pytest
from django.urls import reverse

from customers.models import Customer, CustomerAccess
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

MOBILE = "+8613512345678"
ID_NUMBER = "11010519491231002X"


@pytest.fixture
def shared_customer(consultant, other_consultant) -> Customer:
    """A colleague's customer the consultant may edit (a further registration)."""
    customer = CustomerFactory(
        name="吴一",
        mobile=MOBILE,
        assigned_consultant=other_consultant,
        id_type=Customer.IdType.RESIDENT_ID,
        id_number=ID_NUMBER,
    )
    CustomerAccess.objects.create(customer=customer, user=consultant, reason="test")
    return customer


def edit_url(customer: Customer) -> str:
    return reverse("customers:customer-edit", args=[customer.pk])


def form_data(**overrides) -> dict:
    data = {
        "name": "吴一",
        "kind": "person",
        "mobile": "135****5678",
        "email": "",
        "gender": "male",
        "source": "walk_in",
        "stage": "prospect",
        "id_type": "resident_id",
        "id_number": "110***********002X",
        "notes": "",
    }
    data.update(overrides)
    return data


def test_the_edit_form_shows_the_numbers_masked_to_a_consultant_who_may_not_see_them(
    client, consultant, shared_customer
):
    client.force_login(consultant)
    body = client.get(edit_url(shared_customer)).content.decode()
    assert "13512345678" not in body and "135 1234 5678" not in body
    assert ID_NUMBER not in body
    assert 'value="135****5678"' in body
    assert 'value="110***********002X"' in body


def test_the_owner_still_edits_the_full_numbers(
    client, other_consultant, shared_customer
):
    client.force_login(other_consultant)
    body = client.get(edit_url(shared_customer)).content.decode()
    assert MOBILE in body
    assert ID_NUMBER in body


def test_saving_with_the_masked_numbers_keeps_the_stored_ones(
    client, consultant, shared_customer
):
    client.force_login(consultant)
    response = client.post(edit_url(shared_customer), form_data(stage="buyer"))
    assert response.status_code == 302
    shared_customer.refresh_from_db()
    assert shared_customer.stage == Customer.Stage.BUYER
    assert shared_customer.mobile == MOBILE
    assert shared_customer.id_number == ID_NUMBER


def test_a_newly_typed_number_replaces_the_stored_one(
    client, consultant, shared_customer
):
    client.force_login(consultant)
    response = client.post(edit_url(shared_customer), form_data(mobile="186 1234 5678"))
    assert response.status_code == 302
    shared_customer.refresh_from_db()
    assert shared_customer.mobile == "+8618612345678"
    assert shared_customer.id_number == ID_NUMBER


def test_a_masked_number_that_is_not_the_one_shown_is_refused_and_nothing_saved(
    client, consultant, shared_customer
):
    client.force_login(consultant)
    response = client.post(
        edit_url(shared_customer), form_data(mobile="135****0000", stage="buyer")
    )
    assert response.status_code == 200
    assert response.context["form"].errors["mobile"]
    shared_customer.refresh_from_db()
    assert (shared_customer.mobile, shared_customer.stage) == (MOBILE, "prospect")


def test_a_masked_id_number_kept_under_a_new_document_type_is_checked(
    client, consultant, other_consultant
):
    customer = CustomerFactory(
        name="吴一",
        mobile=MOBILE,
        assigned_consultant=other_consultant,
        id_type=Customer.IdType.PASSPORT,
        id_number="E12345678",
    )
    CustomerAccess.objects.create(customer=customer, user=consultant, reason="test")
    client.force_login(consultant)
    response = client.post(
        edit_url(customer), form_data(id_type="resident_id", id_number="E****5678")
    )
    assert response.status_code == 200
    assert response.context["form"].errors["id_number"]
    customer.refresh_from_db()
    assert customer.id_type == Customer.IdType.PASSPORT
