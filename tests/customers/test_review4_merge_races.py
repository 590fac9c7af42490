"""A contact removed, or a note logged, while a merge runs: the survivor keeps what
the merge gave it, and what is written lands where someone sees it."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from crm_site.models import AuditEntry
from customers import merge_handlers, services
from customers.models import ContactPoint, Customer, Interaction
from customers.services.merge import customer_merge
from tests.factories import CustomerFactory
from tests.helpers import during_a_slow_merge


@pytest.fixture(autouse=True)
def _merge_handlers():
    merge_handlers.connect()


def _contact_audits(customer: Customer) -> list[AuditEntry]:
    return [
        entry
        for entry in AuditEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(Customer),
            object_id=customer.pk,
        )
        if "contact_points" in entry.changes
    ]


@pytest.mark.django_db(transaction=True)
def test_a_contact_removed_while_a_merge_runs_is_refused_and_stays_on_the_survivor(
    consultant, sales_manager
):
    survivor = CustomerFactory(assigned_consultant=consultant)
    absorbed = CustomerFactory(assigned_consultant=consultant)
    point = ContactPoint.objects.create(
        customer=absorbed, kind=ContactPoint.Kind.WECHAT, value="lilei_wx"
    )
    # The consultant's page still shows the absorbed record and its contact.
    stale = ContactPoint.objects.select_related("customer").get(pk=point.pk)

    errors = during_a_slow_merge(
        actor=sales_manager,
        survivor=survivor,
        absorbed=absorbed,
        act=lambda: services.contact_point_remove(actor=consultant, point=stale),
    )

    assert [type(exc) for exc in errors] == [services.CustomerMerged]
    assert errors[0].survivor_id == survivor.pk
    assert ContactPoint.objects.get(pk=point.pk).customer_id == survivor.pk
    assert _contact_audits(absorbed) == []


def test_a_contact_removed_from_a_record_merged_meanwhile_is_refused(
    db, consultant, sales_manager
):
    survivor = CustomerFactory(assigned_consultant=consultant)
    absorbed = CustomerFactory(assigned_consultant=consultant)
    point = ContactPoint.objects.create(
        customer=absorbed, kind=ContactPoint.Kind.WECHAT, value="lilei_wx"
    )
    stale = ContactPoint.objects.select_related("customer").get(pk=point.pk)
    customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
    )

    with pytest.raises(services.CustomerMerged) as refused:
        services.contact_point_remove(actor=consultant, point=stale)

    assert refused.value.survivor_id == survivor.pk
    assert ContactPoint.objects.get(pk=point.pk).customer_id == survivor.pk
    assert _contact_audits(absorbed) == []


def test_a_contact_removed_from_a_record_anonymised_meanwhile_is_refused(
    db, consultant, administrator
):
    from customers.services.personal_data import customer_anonymise

    customer = CustomerFactory(assigned_consultant=consultant)
    point = ContactPoint.objects.create(
        customer=customer, kind=ContactPoint.Kind.EMAIL, value="lilei@example.com"
    )
    stale = ContactPoint.objects.select_related("customer").get(pk=point.pk)
    customer_anonymise(
        actor=administrator, customer=customer, reference="PI-1", reason="删除请求"
    )
    before = len(_contact_audits(customer))

    with pytest.raises(services.CustomerAnonymised):
        services.contact_point_remove(actor=consultant, point=stale)

    # The erased value is not written back into the history by a removal entry.
    assert len(_contact_audits(customer)) == before


def test_a_contact_removed_twice_is_removed_once(db, consultant):
    customer = CustomerFactory(assigned_consultant=consultant)
    point = ContactPoint.objects.create(
        customer=customer, kind=ContactPoint.Kind.WECHAT, value="lilei_wx"
    )
    stale = ContactPoint.objects.select_related("customer").get(pk=point.pk)

    services.contact_point_remove(actor=consultant, point=point)
    services.contact_point_remove(actor=consultant, point=stale)

    assert not ContactPoint.objects.filter(pk=point.pk).exists()
    assert len(_contact_audits(customer)) == 1


@pytest.mark.django_db(transaction=True)
def test_the_page_says_the_record_was_merged_when_a_removal_is_refused(
    client, consultant, sales_manager
):
    survivor = CustomerFactory(assigned_consultant=consultant)
    absorbed = CustomerFactory(assigned_consultant=consultant)
    point = ContactPoint.objects.create(
        customer=absorbed, kind=ContactPoint.Kind.WECHAT, value="lilei_wx"
    )
    client.force_login(consultant)
    responses = []

    def remove():
        # The view finds the contact on the absorbed record before the merge
        # commits; the removal waits on the merge's lock.
        responses.append(
            client.post(
                reverse("customers:contact-point-delete", args=[absorbed.pk, point.pk]),
                headers={"accept-language": "en"},
            )
        )

    errors = during_a_slow_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, act=remove
    )

    assert not errors
    [response] = responses
    assert response.status_code == 302
    messages = [str(m) for m in response.wsgi_request._messages]
    assert "Contact removed." not in messages
    assert any("merged into another one meanwhile" in m for m in messages)
    assert any(survivor.get_absolute_url() in m for m in messages)
    assert ContactPoint.objects.get(pk=point.pk).customer_id == survivor.pk


def test_the_page_says_the_record_was_anonymised_when_a_removal_is_refused(
    client, consultant, administrator, monkeypatch
):
    from customers.services.personal_data import customer_anonymise
    from customers.views import customers as views

    customer = CustomerFactory(assigned_consultant=consultant)
    point = ContactPoint.objects.create(
        customer=customer, kind=ContactPoint.Kind.EMAIL, value="lilei@example.com"
    )
    stale = ContactPoint.objects.select_related("customer").get(pk=point.pk)
    customer_anonymise(
        actor=administrator, customer=customer, reference="PI-1", reason="删除请求"
    )
    # The scope check and the contact's look-up ran a moment before the erasure
    # committed.
    monkeypatch.setattr(views, "_editable_customer", lambda request, pk: stale.customer)
    monkeypatch.setattr(views, "get_object_or_404", lambda *args, **kwargs: stale)
    client.force_login(consultant)

    response = client.post(
        reverse("customers:contact-point-delete", args=[customer.pk, point.pk]),
        headers={"accept-language": "en"},
    )

    assert response.status_code == 302
    messages = [str(m) for m in response.wsgi_request._messages]
    assert "Contact removed." not in messages
    assert any("anonymised" in m for m in messages)


@pytest.mark.django_db(transaction=True)
def test_a_note_logged_while_a_merge_runs_lands_on_the_survivor(
    consultant, sales_manager
):
    survivor = CustomerFactory(assigned_consultant=consultant)
    absorbed = CustomerFactory(assigned_consultant=consultant)

    def log():
        services.interaction_log(
            customer=absorbed,
            kind=Interaction.Kind.NOTE,
            summary="客户偏好南向户型",
            actor=consultant,
        )

    errors = during_a_slow_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, act=log
    )

    assert not errors
    note = Interaction.objects.get(summary="客户偏好南向户型")
    assert note.customer_id == survivor.pk


def test_a_note_logged_on_a_record_merged_meanwhile_goes_to_the_survivor(
    db, consultant, sales_manager
):
    survivor = CustomerFactory(assigned_consultant=consultant)
    absorbed = CustomerFactory(assigned_consultant=consultant)
    stale = Customer.objects.get(pk=absorbed.pk)
    customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
    )
    survivor.refresh_from_db()
    before = (survivor.last_contact_at, survivor.next_follow_up)

    note = services.interaction_log(
        customer=stale,
        kind=Interaction.Kind.NOTE,
        summary="客户偏好南向户型",
        actor=consultant,
    )

    note.refresh_from_db()
    assert note.customer_id == survivor.pk
    survivor.refresh_from_db()
    # A note moves neither the last contact nor the follow-up.
    assert (survivor.last_contact_at, survivor.next_follow_up) == before
