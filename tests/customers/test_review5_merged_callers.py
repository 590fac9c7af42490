"""Callers of customers.services' changes to a customer (customer_update and what
calls it) when the record was merged away or erased while the caller held it: a
problem answer, the survivor followed, or a clean stop; never a 500 or a half write.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from crm_site.api.scopes import Scope
from crm_site.audit import audit_entries_for
from customers import api as customers_api
from customers import merge_handlers, services
from customers.models import Customer, CustomerAccess
from customers.services.merge import customer_merge
from service import handover
from service.models import HandoverAppointment
from tests.factories import CustomerFactory
from tests.service.conftest import batch, building, invited, sold  # noqa: F401

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def _meanwhile(monkeypatch, then) -> None:
    """Run ``then`` after the API has read the customer, before it writes."""
    real = services.customer_update

    def update(**kwargs):
        then()
        return real(**kwargs)

    monkeypatch.setattr(customers_api.services, "customer_update", update)


# ---------------------------------------------------------------------- the API


def test_api_change_of_a_customer_merged_meanwhile_is_409_naming_the_survivor(
    api_client, consultant, sales_manager, own_customer, monkeypatch
):
    survivor = CustomerFactory(name="张三", assigned_consultant=consultant)
    _meanwhile(
        monkeypatch,
        lambda: customer_merge(
            actor=sales_manager, survivor=survivor, absorbed=own_customer, choices={}
        ),
    )
    client = api_client(consultant, Scope.CUSTOMERS_WRITE)
    response = client.patch(
        f"/api/v1/customers/{own_customer.pk}/",
        {"email": "zhang@example.com"},
        format="json",
        **EN,
    )
    assert response.status_code == 409, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert "merged into another" in body["detail"]
    assert body["survivor_id"] == survivor.pk
    assert body["survivor_url"].endswith(f"/api/v1/customers/{survivor.pk}/")
    own_customer.refresh_from_db()
    survivor.refresh_from_db()
    assert own_customer.email != "zhang@example.com"
    assert survivor.email != "zhang@example.com"


def test_api_conflict_names_no_survivor_the_caller_may_not_see(
    api_client, consultant, other_consultant, sales_manager, own_customer, monkeypatch
):
    survivor = CustomerFactory(assigned_consultant=other_consultant)

    def merge_and_lose_sight():
        customer_merge(
            actor=sales_manager, survivor=survivor, absorbed=own_customer, choices={}
        )
        # The merge let the absorbed's consultant see the survivor; a manager
        # took that back.
        CustomerAccess.objects.filter(customer=survivor, user=consultant).delete()

    _meanwhile(monkeypatch, merge_and_lose_sight)
    client = api_client(consultant, Scope.CUSTOMERS_WRITE)
    response = client.patch(
        f"/api/v1/customers/{own_customer.pk}/", {"name": "张三丰"}, format="json"
    )
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["survivor_id"] is None
    assert body["survivor_url"] is None


def test_api_change_of_a_customer_anonymised_meanwhile_is_409_and_saves_nothing(
    api_client, consultant, own_customer, monkeypatch
):
    _meanwhile(
        monkeypatch,
        lambda: Customer.objects.filter(pk=own_customer.pk).update(
            anonymised_at=timezone.now()
        ),
    )
    client = api_client(consultant, Scope.CUSTOMERS_WRITE)
    response = client.patch(
        f"/api/v1/customers/{own_customer.pk}/",
        {"email": "zhang@example.com"},
        format="json",
        **EN,
    )
    assert response.status_code == 409, response.content
    assert "anonymised" in response.json()["detail"]
    own_customer.refresh_from_db()
    assert own_customer.email != "zhang@example.com"
    assert not audit_entries_for(own_customer).exists()


# ------------------------------------------------------------- handover


def test_handover_of_a_buyer_merged_after_the_page_was_read_makes_the_survivor_owner(
    invited,  # noqa: F811
    service_agent,
    sales_manager,
):
    merge_handlers.connect()
    appointment = invited[0]  # read before the merge, as the page was
    buyer = appointment.customer
    survivor = CustomerFactory(assigned_consultant=buyer.assigned_consultant)
    customer_merge(actor=sales_manager, survivor=survivor, absorbed=buyer, choices={})
    assert handover.handover_complete(actor=service_agent, appointment=appointment)
    assert HandoverAppointment.objects.get(pk=appointment.pk).customer_id == survivor.pk
    survivor.refresh_from_db()
    assert survivor.stage == Customer.Stage.OWNER
    assert reverse("customers:customer-detail", args=[survivor.pk])


# ------------------------------------------------------- sales registrations


def test_registering_a_customer_merged_meanwhile_registers_the_survivor(
    consultant, other_consultant, sales_manager
):
    # A partner's broker or a campaign's lead hand-out found the customer by phone
    # just before a merge committed: the person is the survivor now.
    from sales.models import Registration
    from sales.services.ownership import registration_create
    from tests.factories import make_building

    merge_handlers.connect()
    project = make_building(floors=1, per_floor=1, skipped=()).project
    absorbed = CustomerFactory(assigned_consultant=None)
    survivor = CustomerFactory(assigned_consultant=None)
    customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
    )
    registration = registration_create(
        actor=other_consultant,
        customer=absorbed,
        project=project,
        consultant=other_consultant,
        basis=Registration.Basis.CALL,
    )
    assert registration.customer_id == survivor.pk
    assert not Registration.objects.filter(customer=absorbed).exists()
    survivor.refresh_from_db()
    assert survivor.assigned_consultant == other_consultant


# ------------------------------------------------- the customer page's forms


def _anonymised_meanwhile(monkeypatch, customer) -> None:
    """A personal information request erases the record once the view has checked
    the user may change it, before the service writes."""
    from customers.services import records

    real = records.customer_update

    def update(**kwargs):
        Customer.objects.filter(pk=customer.pk).update(anonymised_at=timezone.now())
        return real(**kwargs)

    monkeypatch.setattr(records, "customer_update", update)


def test_consent_saved_on_a_customer_anonymised_meanwhile_says_so(
    client, consultant, own_customer, monkeypatch
):
    from customers.models import ConsentRecord

    client.force_login(consultant)
    _anonymised_meanwhile(monkeypatch, own_customer)
    response = client.post(
        reverse("customers:consent-update", args=[own_customer.pk]),
        {"purpose": "sms", "granted": "1", "method": "verbal"},
        follow=True,
        **EN,
    )
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    assert any("anonymised meanwhile" in text for text in shown), shown
    assert not ConsentRecord.objects.filter(customer=own_customer).exists()


def test_co_buyer_linked_to_a_customer_anonymised_meanwhile_says_so(
    client, consultant, own_customer, monkeypatch
):
    spouse = CustomerFactory(mobile="+8613900139000", assigned_consultant=consultant)
    client.force_login(consultant)
    _anonymised_meanwhile(monkeypatch, own_customer)
    response = client.post(
        reverse("customers:household-link", args=[own_customer.pk]),
        {"phone": "13900139000", "role": "spouse"},
        follow=True,
        **EN,
    )
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    assert any("anonymised meanwhile" in text for text in shown), shown
    spouse.refresh_from_db()
    assert spouse.household_id is None
