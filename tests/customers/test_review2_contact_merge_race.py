"""A further contact added to a record a merge absorbed meanwhile is refused, not
left on a record nobody sees."""

from __future__ import annotations

import pytest
from django.urls import reverse

from customers import merge_handlers, services
from customers.models import ContactPoint, Customer
from customers.services.merge import customer_merge
from tests.factories import CustomerFactory
from tests.helpers import during_a_slow_merge


@pytest.fixture(autouse=True)
def _merge_handlers():
    merge_handlers.connect()


def test_a_contact_added_to_a_record_merged_meanwhile_is_refused(
    db, consultant, sales_manager
):
    survivor = CustomerFactory(assigned_consultant=consultant)
    absorbed = CustomerFactory(assigned_consultant=consultant)
    stale = Customer.objects.get(pk=absorbed.pk)
    customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
    )

    with pytest.raises(services.CustomerMerged) as refused:
        services.contact_point_add(
            actor=consultant, customer=stale, kind="wechat", value="lilei_wx"
        )

    assert refused.value.survivor_id == survivor.pk
    assert not ContactPoint.objects.filter(value="lilei_wx").exists()


def test_the_page_says_the_record_was_merged_when_a_contact_is_refused(
    client, consultant, sales_manager, monkeypatch
):
    from customers.views import customers as views

    survivor = CustomerFactory(assigned_consultant=consultant)
    absorbed = CustomerFactory(assigned_consultant=consultant)
    stale = Customer.objects.get(pk=absorbed.pk)
    customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
    )
    # The scope check ran a moment before the merge committed.
    monkeypatch.setattr(views, "_editable_customer", lambda request, pk: stale)
    client.force_login(consultant)

    response = client.post(
        reverse("customers:contact-point-create", args=[absorbed.pk]),
        {"kind": "wechat", "value": "lilei_wx", "label": ""},
        follow=True,
        headers={"accept-language": "en"},
    )

    messages = [str(m) for m in response.context["messages"]]
    assert not ContactPoint.objects.filter(value="lilei_wx").exists()
    assert "Contact added." not in messages
    assert any("merged into another one meanwhile" in m for m in messages)
    assert any(survivor.get_absolute_url() in m for m in messages)


@pytest.mark.django_db(transaction=True)
def test_a_contact_added_while_a_merge_runs_is_refused(consultant, sales_manager):
    survivor = CustomerFactory(assigned_consultant=consultant)
    absorbed = CustomerFactory(assigned_consultant=consultant)
    stale = Customer.objects.get(pk=absorbed.pk)

    def add():
        services.contact_point_add(
            actor=consultant, customer=stale, kind="wechat", value="lilei_wx"
        )

    errors = during_a_slow_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, act=add
    )
    assert [type(exc) for exc in errors] == [services.CustomerMerged]
    assert not ContactPoint.objects.filter(value="lilei_wx").exists()
    assert Customer.objects.get(pk=absorbed.pk).merged_into_id == survivor.pk


def test_a_contact_added_to_a_record_anonymised_meanwhile_is_refused(
    client, consultant, administrator, monkeypatch
):
    from customers.services.personal_data import customer_anonymise
    from customers.views import customers as views

    customer = CustomerFactory(assigned_consultant=consultant)
    stale = Customer.objects.get(pk=customer.pk)
    customer_anonymise(
        actor=administrator, customer=customer, reference="PI-1", reason="删除请求"
    )
    monkeypatch.setattr(views, "_editable_customer", lambda request, pk: stale)
    client.force_login(consultant)

    response = client.post(
        reverse("customers:contact-point-create", args=[customer.pk]),
        {"kind": "mobile", "value": "139 0000 1111", "label": ""},
        follow=True,
        headers={"accept-language": "en"},
    )

    assert not ContactPoint.objects.filter(customer=customer).exists()
    messages = [str(m) for m in response.context["messages"]]
    assert "Contact added." not in messages
    assert any("anonymised" in m for m in messages)


def test_an_edit_saved_on_a_record_anonymised_meanwhile_is_refused_on_the_form(
    client, consultant, administrator, monkeypatch
):
    """The edit page was opened before a PIPL erasure committed: the save is refused
    next to the form (it was a server error), nothing written back."""
    from customers.services.personal_data import customer_anonymise
    from customers.views import customers as views

    customer = CustomerFactory(assigned_consultant=consultant, name="王芳")
    stale = Customer.objects.get(pk=customer.pk)
    customer_anonymise(
        actor=administrator, customer=customer, reference="PI-2", reason="删除请求"
    )
    monkeypatch.setattr(views, "_editable_customer", lambda request, pk: stale)
    client.force_login(consultant)
    response = client.post(
        reverse("customers:customer-edit", args=[customer.pk]),
        {
            "name": "王芳",
            "kind": stale.kind,
            "mobile": "139 0000 2222",
            "stage": stale.stage,
            "source": stale.source,
        },
        headers={"accept-language": "en"},
    )
    assert response.status_code == 200
    assert "anonymised" in " ".join(response.context["form"].non_field_errors())
    customer.refresh_from_db()
    assert customer.anonymised_at is not None and customer.name != "王芳"
