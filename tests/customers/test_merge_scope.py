"""Merging, dismissing and undoing change both customers: the user must be allowed
to change them, not only to see them (404 out of sight, 403 in sight only)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from customers import merge_handlers
from customers.models import Customer, DuplicatePair
from customers.services.merge import customer_merge
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _merge_handlers():
    merge_handlers.connect()


@pytest.fixture
def pool_pair(pool_customer) -> DuplicatePair:
    """Two customers of the public pool: a sales manager sees them, may not change them."""
    twin = CustomerFactory(name="钱七", assigned_consultant=None)
    first, second = sorted([pool_customer, twin], key=lambda c: c.pk)
    return DuplicatePair.objects.create(first=first, second=second, reasons=["name"])


def test_a_sales_manager_may_look_at_but_not_merge_two_pool_customers(
    client, sales_manager, pool_pair
):
    assert not Customer.objects.editable_by(sales_manager).filter(
        pk__in=[pool_pair.first_id, pool_pair.second_id]
    )
    client.force_login(sales_manager)
    url = reverse("customers:duplicate-merge", args=[pool_pair.pk])
    rows = client.get(url).context["rows"]
    data = {row.name: "survivor" for row in rows}
    data["survivor"] = pool_pair.first_id
    assert client.post(url, data).status_code == 403
    pool_pair.refresh_from_db()
    assert pool_pair.status == DuplicatePair.Status.OPEN
    assert not Customer.objects.filter(merged_into__isnull=False).exists()


def test_a_pair_with_one_customer_the_user_may_not_change_is_not_merged(
    client, sales_manager, own_customer, pool_customer
):
    first, second = sorted([own_customer, pool_customer], key=lambda c: c.pk)
    pair = DuplicatePair.objects.create(first=first, second=second, reasons=["name"])
    client.force_login(sales_manager)
    url = reverse("customers:duplicate-merge", args=[pair.pk])
    page = client.get(url)
    # The page says so before the manager tries: no Merge button, who can.
    assert page.context["may_merge"] is False
    assert 'data-testid="may-not-merge"' in page.content.decode()
    data = {row.name: "survivor" for row in page.context["rows"]}
    data["survivor"] = own_customer.pk
    assert client.post(url, data).status_code == 403
    pool_customer.refresh_from_db()
    assert pool_customer.merged_into_id is None


def test_a_sales_manager_may_not_dismiss_a_pair_of_pool_customers(
    client, sales_manager, pool_pair
):
    client.force_login(sales_manager)
    url = reverse("customers:duplicate-dismiss", args=[pool_pair.pk])
    assert client.post(url).status_code == 403
    pool_pair.refresh_from_db()
    assert pool_pair.status == DuplicatePair.Status.OPEN


def test_a_sales_manager_may_not_undo_a_merge_into_a_pool_customer(
    client, sales_manager, pool_customer
):
    record = customer_merge(
        actor=None,
        survivor=pool_customer,
        absorbed=CustomerFactory(assigned_consultant=None),
        choices={},
    )
    client.force_login(sales_manager)
    url = reverse("customers:merge-restore", args=[record.pk])
    assert client.post(url).status_code == 403
    record.refresh_from_db()
    assert record.restored_at is None
