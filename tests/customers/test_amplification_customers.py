"""Request-size amplification on the customer pages: one request may not make the
server do work in proportion to a number the request chooses."""

from __future__ import annotations

from django.urls import reverse

from customers.forms import MAX_TAGS
from customers.models import Customer, Tag
from tests.customers.test_views import valid_form

CREATE = reverse("customers:customer-create")


def _tags(count: int) -> str:
    # One CJK character each: 250 distinct tags fit the field's 500 characters.
    return ",".join(chr(0x4E00 + i) for i in range(count))


def test_a_customer_with_more_tags_than_the_api_takes_is_refused_without_tags_made(
    client, consultant
):
    client.force_login(consultant)
    response = client.post(
        CREATE, valid_form(tags_text=_tags(250)), HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 200
    assert "tags_text" in response.context["form"].errors
    assert "At most 50 tags" in response.content.decode()
    assert not Customer.objects.exists()
    assert not Tag.objects.exists()


def test_a_customer_with_as_many_tags_as_allowed_is_saved(client, consultant):
    client.force_login(consultant)
    response = client.post(CREATE, valid_form(tags_text=_tags(MAX_TAGS)))
    assert response.status_code == 302
    assert Customer.objects.get().tags.count() == MAX_TAGS


def test_a_filter_too_long_to_keep_is_refused_with_a_message_not_a_500(
    client, consultant
):
    from customers.models import SavedFilter

    client.force_login(consultant)
    response = client.post(
        reverse("customers:saved-filter-create"),
        {"name": "长", "stage": "prospect", "q": "张" * 400},
        HTTP_ACCEPT_LANGUAGE="en",
        follow=True,
    )
    assert response.status_code == 200
    assert "too long to save" in response.content.decode()
    assert not SavedFilter.objects.exists()
