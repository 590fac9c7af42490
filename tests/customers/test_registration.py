from __future__ import annotations

import pytest
from django.urls import reverse

from customers.models import ContactPoint, Customer, Interaction

REGISTER = reverse("customers:register")
LOOKUP = reverse("customers:phone-lookup")


def test_registering_a_new_number_creates_the_customer_and_the_visit(
    client, consultant
):
    client.force_login(consultant)
    response = client.post(
        REGISTER,
        {
            "mobile": "186 2222 3333",
            "name": "周芷若",
            "kind": "visit",
            "source": "walk_in",
            "summary": "",
        },
    )
    customer = Customer.objects.get()
    assert response.status_code == 302 and response.url == customer.get_absolute_url()
    assert customer.assigned_consultant == consultant
    visit = Interaction.objects.get()
    assert (visit.kind, visit.channel, visit.created_by) == (
        "visit",
        "face_to_face",
        consultant,
    )


def test_registering_a_known_number_logs_on_that_customer(
    client, consultant, own_customer
):
    client.force_login(consultant)
    client.post(
        REGISTER,
        {
            "mobile": "8613800138000",
            "name": "",
            "kind": "call_in",
            "source": "phone",
            "summary": "问价",
        },
    )
    assert Customer.objects.count() == 1
    assert Interaction.objects.get().customer == own_customer


def test_a_number_kept_as_a_further_contact_is_recognised(
    client, consultant, own_customer
):
    ContactPoint.objects.create(
        customer=own_customer, kind="mobile", value="+8618600001111"
    )
    client.force_login(consultant)
    client.post(
        REGISTER,
        {"mobile": "18600001111", "name": "别名", "kind": "visit", "source": "walk_in"},
    )
    assert Customer.objects.count() == 1
    assert Interaction.objects.get().customer == own_customer


def test_another_consultants_customer_gets_the_visit_but_stays_theirs(
    client, consultant, others_customer
):
    client.force_login(consultant)
    response = client.post(
        REGISTER, {"mobile": "13900139000", "kind": "visit", "source": "walk_in"}
    )
    assert response.status_code == 302 and response.url == REGISTER
    others_customer.refresh_from_db()
    assert others_customer.assigned_consultant.username == "consultant2"
    assert Interaction.objects.get().created_by == consultant


def test_a_new_number_without_a_name_is_refused_and_nothing_is_saved(
    client, consultant
):
    client.force_login(consultant)
    response = client.post(
        REGISTER,
        {"mobile": "186 2222 3333", "name": " ", "kind": "visit", "source": "walk_in"},
    )
    assert response.status_code == 200
    assert "name" in response.context["form"].errors
    assert not Customer.objects.exists() and not Interaction.objects.exists()


def test_a_bad_number_is_refused(client, consultant):
    client.force_login(consultant)
    response = client.post(
        REGISTER,
        {"mobile": "12345", "name": "某人", "kind": "visit", "source": "walk_in"},
    )
    assert "mobile" in response.context["form"].errors
    assert not Customer.objects.exists()


def test_lookup_hint_says_new_existing_or_incomplete(
    client, consultant, own_customer, others_customer
):
    client.force_login(consultant)
    existing = client.get(LOOKUP, {"mobile": "138 0013 8000"}).content.decode()
    assert "张三" in existing and own_customer.get_absolute_url() in existing
    hidden = client.get(LOOKUP, {"mobile": "13900139000"}).content.decode()
    assert "alert-warning" in hidden
    assert "赵六" not in hidden and others_customer.get_absolute_url() not in hidden
    fresh = client.get(LOOKUP, {"mobile": "18622223333"}).content.decode()
    assert "bi-person-plus" in fresh and "alert-warning" not in fresh
    partial = client.get(LOOKUP, {"mobile": "1862"}).content.decode()
    assert "bi-person-plus" not in partial and "alert-warning" not in partial


def test_registration_needs_the_right_to_add_customers(client, marketer):
    client.force_login(marketer)
    assert client.get(REGISTER).status_code == 403
    assert client.get(LOOKUP, {"mobile": "13800138000"}).status_code == 403


@pytest.mark.parametrize(
    ("typed", "state"),
    [
        ("1862", "incomplete"),
        ("186 2222 333", "incomplete"),
        ("+86 186", "incomplete"),
        ("18622223333", "valid"),
        ("123 4567 8901", "invalid"),  # eleven digits, no such operator prefix
        ("186 2222 33334", "invalid"),  # one digit too many
        ("021 6234 5678", "invalid"),  # a whole landline
        ("138abc", "invalid"),
    ],
)
def test_lookup_hint_calls_a_number_invalid_as_soon_as_it_is_certain(
    client, consultant, typed, state
):
    client.force_login(consultant)
    response = client.get(LOOKUP, {"mobile": typed})
    body = response.content.decode()
    assert f'data-state="{state}"' in body
    assert ('data-testid="mobile-invalid"' in body) == (state == "invalid")


def test_the_hint_and_the_refusal_say_why_the_number_is_invalid(client, consultant):
    client.force_login(consultant)
    client.cookies["django_language"] = "en"  # the messages in their source wording
    why = "This is not a valid mobile number: check the first digits."
    assert why in client.get(LOOKUP, {"mobile": "12345678901"}).content.decode()
    response = client.post(
        REGISTER,
        {"mobile": "12345678901", "name": "某人", "kind": "visit", "source": "walk_in"},
    )
    assert response.context["form"].errors["mobile"] == [why]
    body = response.content.decode()
    # Next to the field, once: the hint under it stays quiet.
    assert body.count(why) == 1
    assert 'data-testid="mobile-invalid"' not in body
    assert not Customer.objects.exists()
    too_long = client.get(LOOKUP, {"mobile": "186 2222 33334"}).content.decode()
    assert "A mainland mobile number has 11 digits." in too_long


def test_the_hint_link_to_an_existing_customer_is_not_a_tab_stop(
    client, consultant, own_customer
):
    client.force_login(consultant)
    hint = client.get(LOOKUP, {"mobile": "13800138000"}).content.decode()
    assert f'href="{own_customer.get_absolute_url()}"' in hint
    assert 'tabindex="-1"' in hint
    page = client.get(REGISTER).content.decode()
    assert 'aria-describedby="lookup-result"' in page
