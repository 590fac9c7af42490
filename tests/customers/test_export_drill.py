"""The export is the list as shown, explorer drill included (?drill=)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.urls import reverse

from crm_site import insight
from customers.models import CustomerValue, ExportRecord, ValueTier
from customers.value import FACT
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

LIST = reverse("customers:customer-list")
EXPORT = reverse("customers:customer-export")


@pytest.fixture(autouse=True)
def _tiers(db):
    from customers.value import default_tiers_create

    default_tiers_create()


def put_value(customer, score: str) -> CustomerValue:
    """A value row as the refresh would write it (the rows are derived data)."""
    from customers.value import tier_for

    amount = Decimal(score)
    return CustomerValue.objects.create(
        customer=customer,
        contracted=amount,
        referred=Decimal("0"),
        cost=Decimal("0"),
        score=amount,
        tier=tier_for(amount, ValueTier.objects.all()),
        channel=customer.source,
        consultant_id=customer.assigned_consultant_id,
        consented=True,
        service=False,
    )


def exported_names(response) -> list[str]:
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    return sorted(row[0] for row in rows[1:])


def test_the_export_of_a_drilled_list_exports_only_the_rows_the_list_shows(
    client, sales_manager, consultant
):
    top = CustomerFactory(name="王大", assigned_consultant=consultant)
    low = CustomerFactory(name="王三", assigned_consultant=consultant)
    CustomerFactory(name="王四", assigned_consultant=consultant)  # no value row
    top_tier = put_value(top, "12000000").tier
    assert put_value(low, "-5000").tier != top_tier
    token = insight.drill_token(insight.source_named(FACT), {"tier": [top_tier.pk]})
    client.force_login(sales_manager)
    listed = client.get(LIST, {"drill": token})
    assert [row.name for row in listed.context["rows"]] == ["王大"]
    response = client.get(EXPORT, {"drill": token, "format": "csv"})
    assert response.status_code == 200
    assert exported_names(response) == ["王大"]
    record = ExportRecord.objects.get()
    assert record.row_count == 1
    # What was exported, readable without the signing key.
    assert record.filters == {
        "drill": {"source": FACT, "filters": {"tier": [top_tier.pk]}}
    }


def test_a_drill_of_an_empty_cell_exports_nothing(client, sales_manager, consultant):
    CustomerFactory.create_batch(3, assigned_consultant=consultant)
    token = insight.drill_token(insight.source_named(FACT), {"tier": [987654]})
    client.force_login(sales_manager)
    response = client.get(EXPORT, {"drill": token, "format": "csv"})
    assert response.status_code == 200
    assert exported_names(response) == []
    assert ExportRecord.objects.get().row_count == 0


def test_a_forged_or_foreign_drill_is_ignored_as_on_the_list(
    client, sales_manager, consultant
):
    from customers.insight_interactions import SOURCE as INTERACTIONS

    CustomerFactory.create_batch(2, assigned_consultant=consultant)
    client.force_login(sales_manager)
    foreign = insight.drill_token(INTERACTIONS, {})
    for token in ("forged", foreign):
        response = client.get(EXPORT, {"drill": token, "format": "csv"})
        assert response.status_code == 200
        assert len(exported_names(response)) == 2
    assert [r.filters for r in ExportRecord.objects.order_by("pk")] == [{}, {}]
