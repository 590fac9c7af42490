"""The change history masks a further contact's number as the customer page does."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import translation

from crm_site.audit import audit_record
from crm_site.models import AuditEntry
from customers import services
from customers.models import ContactPoint
from customers.phones import format_phone

pytestmark = pytest.mark.django_db

FURTHER = "+8618622223333"


def history(client, customer) -> str:
    url = reverse("customers:customer-history", args=[customer.pk])
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_a_consultant_of_the_pool_sees_an_added_and_removed_number_masked(
    client, consultant, sales_manager, pool_customer
):
    point = services.contact_point_add(
        actor=sales_manager,
        customer=pool_customer,
        kind=ContactPoint.Kind.MOBILE,
        value=FURTHER,
    )
    services.contact_point_remove(actor=sales_manager, point=point)
    client.force_login(consultant)
    body = history(client, pool_customer)
    assert "18622223333" not in body and "186 2222 3333" not in body
    assert body.count("186****3333") == 2  # the entry adding it and the removing one


def test_marketing_sees_a_further_number_masked_in_the_history(
    client, marketer, sales_manager, pool_customer
):
    services.contact_point_add(
        actor=sales_manager,
        customer=pool_customer,
        kind=ContactPoint.Kind.LANDLINE,
        value="+862161234567",
    )
    client.force_login(marketer)
    body = history(client, pool_customer)
    assert "61234567" not in body
    assert "216***4567" in body


def test_the_owner_sees_the_further_number_in_full_as_people_write_it(
    client, consultant, own_customer
):
    services.contact_point_add(
        actor=consultant,
        customer=own_customer,
        kind=ContactPoint.Kind.MOBILE,
        value=FURTHER,
    )
    client.force_login(consultant)
    assert "186 2222 3333" in history(client, own_customer)


def test_a_number_written_without_its_country_code_is_masked_too(
    client, consultant, sales_manager, pool_customer
):
    # However an entry came to hold a bare mainland mobile, it is masked all the same.
    audit_record(
        actor=sales_manager,
        instance=pool_customer,
        action=AuditEntry.Action.UPDATE,
        changes={"contact_points": {"old": "手机号 18622223333", "new": ""}},
    )
    client.force_login(consultant)
    body = history(client, pool_customer)
    assert "18622223333" not in body
    assert "186****3333" in body


def test_other_further_contacts_are_shown_as_the_page_shows_them(
    client, consultant, sales_manager, pool_customer
):
    services.contact_point_add(
        actor=sales_manager,
        customer=pool_customer,
        kind=ContactPoint.Kind.EMAIL,
        value="qian@example.com",
    )
    client.force_login(consultant)
    assert "qian@example.com" in history(client, pool_customer)


def test_a_further_contacts_kind_is_named_in_the_readers_language(
    client, consultant, own_customer
):
    """Added by a colleague working in Chinese, read in English: the kind is stored
    as its code and named when shown; an entry written before as the Chinese label
    is read in English too."""
    with translation.override("zh-hans"):
        services.contact_point_add(
            actor=consultant,
            customer=own_customer,
            kind=ContactPoint.Kind.WECHAT,
            value="zhang_san",
        )
    audit_record(
        actor=consultant,
        instance=own_customer,
        action=AuditEntry.Action.UPDATE,
        changes={"contact_points": {"old": "座机 +862161234567", "new": ""}},
    )
    client.force_login(consultant)
    with translation.override("en"):
        body = client.get(
            reverse("customers:customer-history", args=[own_customer.pk]),
            HTTP_ACCEPT_LANGUAGE="en",
        ).content.decode()
    assert "WeChat ID zhang_san" in body
    assert f"Landline {format_phone('+862161234567')}" in body
    assert "微信号" not in body and "座机" not in body
