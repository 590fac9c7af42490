"""The customer page's consent, co-buyer and merge forms act once when sent twice."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from crm_site.submissions import FIELD
from customers import merge_handlers
from customers.models import ConsentRecord, Customer, DuplicatePair, MergeRecord
from customers.services.merge import customer_merge
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

TOKEN = re.compile(rf'name="{FIELD}" value="([^"]+)"')


@pytest.fixture(autouse=True)
def _merge_handlers():
    merge_handlers.connect()


def form_token(html: str, action: str) -> str:
    """The one-time token inside the form posting to ``action``."""
    match = re.search(
        rf'<form[^>]*action="{re.escape(action)}"[^>]*>(.*?)</form>', html, re.S
    )
    assert match, f"no form posting to {action}"
    tokens = TOKEN.findall(match.group(1))
    assert tokens, f"the form posting to {action} carries no one-time token"
    return tokens[0]


def test_a_double_click_on_record_consent_records_it_once(
    client, consultant, own_customer
):
    client.force_login(consultant)
    url = reverse("customers:consent-update", args=[own_customer.pk])
    token = form_token(
        client.get(own_customer.get_absolute_url()).content.decode(), url
    )
    data = {"purpose": "sms", "granted": "1", "method": "verbal", FIELD: token}

    first = client.post(url, data)
    second = client.post(url, data)

    assert ConsentRecord.objects.filter(customer=own_customer).count() == 1
    assert first.status_code == second.status_code == 302
    assert second.url == first.url == own_customer.get_absolute_url()


def test_the_co_buyer_form_carries_a_one_time_token(client, consultant, own_customer):
    other = CustomerFactory(mobile="+8613700137000", assigned_consultant=consultant)
    client.force_login(consultant)
    url = reverse("customers:household-link", args=[own_customer.pk])
    token = form_token(
        client.get(own_customer.get_absolute_url()).content.decode(), url
    )
    data = {"phone": "137 0013 7000", "role": "spouse", FIELD: token}

    client.post(url, data)
    second = client.post(url, data, follow=True, headers={"accept-language": "en"})

    other.refresh_from_db()
    assert other.household_id is not None
    assert "saved once" in second.content.decode()
    assert "not linked" not in second.content.decode()


def test_a_double_click_on_merge_merges_once_and_lands_on_the_survivor(
    client, sales_manager, own_customer, others_customer
):
    first, second = sorted([own_customer, others_customer], key=lambda c: c.pk)
    pair = DuplicatePair.objects.create(first=first, second=second, reasons=["phone"])
    client.force_login(sales_manager)
    url = reverse("customers:duplicate-merge", args=[pair.pk])
    page = client.get(url, {"survivor": own_customer.pk}).content.decode()
    match = re.search(
        r'<form[^>]*data-testid="merge-form"[^>]*>(.*?)</form>', page, re.S
    )
    assert match and TOKEN.findall(match.group(1))
    data = {"survivor": own_customer.pk, FIELD: TOKEN.findall(match.group(1))[0]}
    data.update(
        dict.fromkeys(
            re.findall(r'name="(\w+)" id="id_\w+_survivor"', page), "survivor"
        )
    )

    first_answer = client.post(url, data)
    second_answer = client.post(url, data)

    assert MergeRecord.objects.count() == 1
    assert first_answer.url == own_customer.get_absolute_url()
    # Not the duplicate list with "already decided": where the first click went.
    assert second_answer.url == first_answer.url


def test_a_double_click_on_undo_merge_undoes_once_without_an_error(
    client, sales_manager, own_customer, others_customer
):
    record = customer_merge(
        actor=sales_manager, survivor=own_customer, absorbed=others_customer, choices={}
    )
    client.force_login(sales_manager)
    history = client.get(
        reverse("customers:customer-history", args=[own_customer.pk])
    ).content.decode()
    url = reverse("customers:merge-restore", args=[record.pk])
    data = {FIELD: form_token(history, url)}

    client.post(url, data)
    second = client.post(url, data, follow=True, headers={"accept-language": "en"})

    assert Customer.objects.get(pk=others_customer.pk).merged_into_id is None
    messages = [str(m) for m in second.context["messages"]]
    assert "This form was already sent; it was saved once." in messages
    assert "This merge has already been undone." not in messages


def test_a_double_click_on_remove_contact_lands_on_the_page_not_a_404(
    client, consultant, own_customer
):
    from customers.models import ContactPoint

    point = ContactPoint.objects.create(
        customer=own_customer, kind="wechat", value="zhangsan_wx"
    )
    client.force_login(consultant)
    url = reverse("customers:contact-point-delete", args=[own_customer.pk, point.pk])
    data = {
        FIELD: form_token(
            client.get(own_customer.get_absolute_url()).content.decode(), url
        )
    }

    client.post(url, data)
    second = client.post(url, data)

    assert not ContactPoint.objects.filter(pk=point.pk).exists()
    assert second.status_code == 302
    assert second.url == own_customer.get_absolute_url()
