"""No side door: the admin does not edit customers, and no code path changes a
customer, a deal or a service request without an audit entry.

The suite-wide check that every save of those rows is audited is the autouse fixture
`_every_change_is_audited` in tests/conftest.py; these tests cover the mechanism.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from crm_site.audit import AuditedQuerySet, UnauditedChange, audited_update
from crm_site.models import AuditEntry
from customers.models import Customer
from sales import services as sales_services
from sales.models import Opportunity
from service import services as service_services
from service.models import ServiceRequest
from tests.factories import CustomerFactory, make_building


def _entries(instance) -> list[AuditEntry]:
    return list(
        AuditEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(instance),
            object_id=instance.pk,
        ).order_by("pk")
    )


def test_every_audited_model_refuses_unaudited_bulk_updates():
    audited = [model for model in apps.get_models() if hasattr(model, "AUDITED_FIELDS")]
    assert {Customer, Opportunity, ServiceRequest} <= set(audited)
    for model in audited:
        assert isinstance(model._default_manager.all(), AuditedQuerySet), model


# Unmarked tests may set up states with bulk updates; this one shows the guard itself.
@pytest.mark.unaudited
def test_plain_update_of_an_audited_field_is_refused(own_customer):
    with pytest.raises(UnauditedChange):
        Customer.objects.filter(pk=own_customer.pk).update(notes="x")
    with pytest.raises(UnauditedChange):
        Customer.objects.filter(pk=own_customer.pk).update(assigned_consultant_id=None)


def test_derived_fields_update_freely(own_customer):
    assert Customer.objects.filter(pk=own_customer.pk).update(name_pinyin="x") == 1


def test_audited_update_records_one_entry_per_changed_row(
    consultant, other_consultant, django_assert_num_queries
):
    customers = [CustomerFactory(assigned_consultant=consultant) for _ in range(5)]
    unchanged = CustomerFactory(assigned_consultant=other_consultant)
    ids = [c.pk for c in [*customers, unchanged]]
    ContentType.objects.get_for_model(Customer)  # cached, as in a running process
    with django_assert_num_queries(
        6
    ):  # savepoint, lock+read, update, re-read, insert, release
        count = audited_update(
            Customer.objects.filter(pk__in=ids),
            actor=consultant,
            assigned_consultant=other_consultant,
        )
    assert count == 6
    entry = _entries(customers[0])[-1]
    assert entry.actor == consultant
    assert entry.changes == {
        "assigned_consultant": {
            "old": str(consultant),
            "new": str(other_consultant),
        }
    }
    assert _entries(unchanged) == []


def test_audited_update_takes_the_same_number_of_queries_for_many_rows(
    consultant, other_consultant, django_assert_num_queries
):
    ids = [CustomerFactory(assigned_consultant=consultant).pk for _ in range(40)]
    ContentType.objects.get_for_model(Customer)
    with django_assert_num_queries(
        6
    ):  # savepoint, lock+read, update, re-read, insert, release
        audited_update(
            Customer.objects.filter(pk__in=ids),
            actor=None,
            assigned_consultant=other_consultant,
        )
    assert AuditEntry.objects.filter(object_id__in=ids).count() == 40


def test_a_deal_stage_move_is_audited(consultant, own_customer):
    building = make_building()
    deal = sales_services.opportunity_open(
        actor=consultant, customer=own_customer, project=building.project
    )
    deal.move_to(Opportunity.Stage.CONTACTED, actor=consultant)
    entry = _entries(deal)[-1]
    assert entry.actor == consultant
    assert entry.changes["stage"] == {"old": "new", "new": "contacted"}


def test_a_request_status_move_and_callback_are_audited(service_agent, consultant):
    request = service_services.request_create(
        actor=service_agent,
        customer=CustomerFactory(stage="owner", assigned_consultant=consultant),
        unit=None,
        kind="repair",
        category="plumbing",
        severity="high",
        channel="phone",
        description="卫生间漏水",
    )
    request.move_to(ServiceRequest.Status.IN_PROGRESS, actor=service_agent)
    request.move_to(ServiceRequest.Status.RESOLVED, actor=service_agent)
    service_services.request_callback(
        actor=service_agent, request=request, satisfied=True, note="满意"
    )
    changes = [entry.changes for entry in _entries(request)]
    assert {"status": {"old": "received", "new": "in_progress"}} in changes
    assert any(c.get("satisfied") == {"old": "", "new": "True"} for c in changes), (
        changes
    )


def test_the_admin_shows_customers_read_only(client, administrator, own_customer):
    client.force_login(administrator)
    change_url = reverse("admin:customers_customer_change", args=[own_customer.pk])
    page = client.get(change_url)
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert own_customer.name.encode() in page.content

    client.post(change_url, {"name": "改名", "mobile": "13800000000"})
    own_customer.refresh_from_db()
    assert own_customer.name == "张三"

    assert client.get(reverse("admin:customers_customer_add")).status_code == 403
    delete_url = reverse("admin:customers_customer_delete", args=[own_customer.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    assert Customer.objects.filter(pk=own_customer.pk).exists()


def test_administrators_set_project_teams_and_deadline_rules_in_the_admin(
    client, administrator, team
):
    building = make_building()
    project = building.project
    client.force_login(administrator)
    url = reverse("admin:sales_project_change", args=[project.pk])
    assert client.get(url).status_code == 200
    response = client.post(
        url,
        {
            "name": project.name,
            "city": project.city,
            "address": project.address,
            "is_active": "on",
            "discount_limit": "2.00",
            "hold_days": "3",
            "teams": [team.pk],
        },
    )
    assert response.status_code == 302
    assert list(project.teams.all()) == [team]
    rules = reverse("admin:service_deadlinerule_add")
    assert client.get(rules).status_code == 200
