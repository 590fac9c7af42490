"""Money the deal's state no longer allows: a discount outliving the unit it was
granted for, a receipt on a cancelled deal, a change of unit onto a unit offered at
an opening session."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from sales import services
from sales.models import DiscountRequest, Opportunity, Unit, UnitHold
from sales.pricing import quote
from tests.factories import make_building

pytestmark = pytest.mark.django_db


@pytest.fixture
def building():
    return make_building()


def _units(building):
    return list(building.units.order_by("floor", "position"))


def test_a_discount_ends_with_the_hold_it_was_granted_on(
    building, consultant, own_customer
):
    a, b = _units(building)[:2]
    Unit.objects.filter(pk=b.pk).update(floor_price=b.list_price * Decimal("0.99"))
    b.refresh_from_db()
    deal = services.opportunity_open(
        actor=consultant, customer=own_customer, project=building.project
    )
    services.unit_reserve(actor=consultant, opportunity=deal, unit=a)
    granted = services.discount_request(
        actor=consultant, opportunity=deal, percent=Decimal("2"), reason="老客户"
    )
    assert granted.status == DiscountRequest.Status.APPROVED
    assert quote(unit=b, discount_percent=Decimal("2")).below_floor

    services.unit_release(
        actor=consultant, hold=UnitHold.objects.get(opportunity=deal, status="active")
    )
    deal.refresh_from_db()
    assert deal.discount_percent == 0
    services.unit_reserve(actor=consultant, opportunity=deal, unit=b)
    services.unit_subscribe(actor=consultant, opportunity=deal)

    deal.refresh_from_db()
    assert deal.agreed_price == b.list_price  # never below b's floor unasked


def test_no_receipt_on_a_cancelled_deal(
    building, consultant, sales_manager, own_customer
):
    unit = _units(building)[0]
    deal = services.opportunity_open(
        actor=consultant, customer=own_customer, project=building.project
    )
    services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    services.unit_subscribe(actor=consultant, opportunity=deal)
    items = services.payment_plan_create(
        actor=consultant, opportunity=deal, scheme="full", deposit=Decimal("50000")
    )
    change = services.deal_change_request(
        actor=consultant, opportunity=deal, kind="cancel", reason="退房"
    )
    services.deal_change_decide(actor=sales_manager, change=change, approve=True)
    deal.refresh_from_db()
    assert deal.stage == Opportunity.Stage.LOST
    with pytest.raises(ValidationError):
        services.receipt_record(
            actor=consultant,
            item=items[1],
            amount=Decimal("1000"),
            received_on=date.today(),
            method="transfer",
        )


def test_who_asked_does_not_approve(
    building, sales_manager, administrator, own_customer
):
    """Four eyes: a sales manager working their own deal asks for a discount beyond
    the limit; another manager (or an administrator) approves it, not they."""
    unit = _units(building)[0]
    deal = services.opportunity_open(
        actor=sales_manager, customer=own_customer, project=building.project
    )
    services.unit_reserve(actor=sales_manager, opportunity=deal, unit=unit)
    waiting = services.discount_request(
        actor=sales_manager, opportunity=deal, percent=Decimal("20"), reason="自批"
    )
    assert waiting.status == DiscountRequest.Status.PENDING

    with pytest.raises(ValidationError):
        services.discount_decide(actor=sales_manager, request=waiting, approve=True)
    decided = services.discount_decide(
        actor=administrator, request=waiting, approve=True
    )
    assert decided.status == DiscountRequest.Status.APPROVED
