from __future__ import annotations

import threading

import pytest
from django.db import connection

from crm_site.audit import audit_entries_for
from crm_site.models import AuditEntry
from customers import services
from customers.models import Customer


def test_customer_create_by_consultant_makes_them_the_owner_and_audits(consultant):
    customer = services.customer_create(
        actor=consultant, name="张三", mobile="+8613800138000", source="walk_in"
    )
    assert customer.assigned_consultant == consultant
    entry = audit_entries_for(customer).get()
    assert entry.action == AuditEntry.Action.CREATE
    assert entry.actor == consultant
    assert entry.changes["name"]["new"] == "张三"


def test_customer_create_refuses_a_twin(consultant, own_customer):
    with pytest.raises(services.DuplicateCustomer) as exc:
        services.customer_create(
            actor=consultant, name="张三丰", mobile=own_customer.mobile
        )
    assert exc.value.existing == own_customer
    assert Customer.objects.count() == 1
    assert not AuditEntry.objects.exists()


def test_customer_update_records_old_and_new_values(consultant, own_customer):
    services.customer_update(
        actor=consultant,
        customer=own_customer,
        name="张三",
        stage="buyer",
        email="z@example.com",
    )
    entry = audit_entries_for(own_customer).get()
    assert entry.action == AuditEntry.Action.UPDATE
    assert set(entry.changes) == {"stage", "email"}
    assert entry.changes["stage"] == {"old": "prospect", "new": "buyer"}
    own_customer.refresh_from_db()
    assert own_customer.stage == "buyer"


def test_customer_update_without_a_change_records_nothing(consultant, own_customer):
    services.customer_update(
        actor=consultant, customer=own_customer, name=own_customer.name
    )
    assert not AuditEntry.objects.exists()


def test_customer_update_refuses_the_mobile_of_another_customer(
    consultant, own_customer, others_customer
):
    with pytest.raises(services.DuplicateCustomer):
        services.customer_update(
            actor=consultant, customer=own_customer, mobile=others_customer.mobile
        )
    own_customer.refresh_from_db()
    assert own_customer.mobile == "+8613800138000"


@pytest.mark.django_db(transaction=True)
def test_two_desks_registering_the_same_number_at_once_get_one_customer(
    consultant, other_consultant
):
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def register(user):
        try:
            barrier.wait()
            services.customer_create(actor=user, name="同时", mobile="+8613811112222")
            outcomes.append("created")
        except services.DuplicateCustomer:
            outcomes.append("duplicate")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=register, args=(u,))
        for u in (consultant, other_consultant)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["created", "duplicate"]
    assert Customer.objects.filter(mobile="+8613811112222").count() == 1
