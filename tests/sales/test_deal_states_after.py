"""What a deal still shows once it is cancelled (退房): no documents to print, no
instalments to chase."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from sales import services
from sales.overview import overdue_payments
from sales.selectors import printable_documents
from tests.factories import make_building

pytestmark = pytest.mark.django_db


@pytest.fixture
def building(db):
    return make_building()


@pytest.fixture
def subscribed(building, consultant, own_customer):
    """A subscribed deal with three instalments, the first ones long overdue."""
    deal = services.opportunity_open(
        actor=consultant, customer=own_customer, project=building.project
    )
    services.unit_reserve(
        actor=consultant, opportunity=deal, unit=building.units.order_by("pk")[0]
    )
    services.unit_subscribe(actor=consultant, opportunity=deal)
    services.payment_plan_create(
        actor=consultant,
        opportunity=deal,
        scheme="instalments",
        deposit=Decimal("50000"),
        start=timezone.localdate() - timedelta(days=200),
    )
    deal.refresh_from_db()
    return deal


def _cancel(deal, consultant, sales_manager):
    change = services.deal_change_request(
        actor=consultant, opportunity=deal, kind="cancel", reason="退房"
    )
    services.deal_change_decide(actor=sales_manager, change=change, approve=True)
    deal.refresh_from_db()
    assert deal.stage == "lost"


def _overdue_on_the_list(client, deal) -> list:
    items = client.get(reverse("sales:payments-overdue")).context["page"].items
    return [i for i in items if i.opportunity_id == deal.pk]


def test_a_subscribed_deal_prints_both_documents_and_a_cancelled_one_neither(
    client, subscribed, consultant, sales_manager
):
    assert printable_documents(subscribed) == ["selection", "subscription"]
    _cancel(subscribed, consultant, sales_manager)
    # The deal keeps its unit as a record, but the buyer gave it back.
    assert subscribed.unit_id is not None
    assert printable_documents(subscribed) == []
    client.force_login(consultant)
    for document in ("selection", "subscription"):
        response = client.get(
            reverse("sales:opportunity-print", args=[subscribed.pk, document])
        )
        assert response.status_code == 404, document


def test_a_cancelled_deal_s_instalments_are_neither_listed_nor_counted_as_overdue(
    client, subscribed, consultant, sales_manager
):
    client.force_login(consultant)
    assert _overdue_on_the_list(client, subscribed)
    assert overdue_payments(user=consultant, project_id=None).count() > 0
    _cancel(subscribed, consultant, sales_manager)
    assert _overdue_on_the_list(client, subscribed) == []
    # The overview's figure counts what its list shows.
    assert overdue_payments(user=consultant, project_id=None).count() == 0
    assert overdue_payments(user=sales_manager, project_id=None).count() == 0
