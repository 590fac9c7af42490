"""Deals made through the real services, for the dashboards' and the explorer's tests."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from crm_site import insight
from customers import services as customer_services
from sales import services
from tests.factories import CustomerFactory


def sell(building, consultant, *, contract: bool, pay: bool = False, source="wechat"):
    """A visited customer who reserves and subscribes the building's next free unit,
    and signs (and pays) when asked."""
    customer = CustomerFactory(assigned_consultant=consultant, source=source)
    customer_services.interaction_log(
        customer=customer, kind="visit", summary="到访", actor=consultant
    )
    deal = services.opportunity_open(
        actor=consultant, customer=customer, project=building.project
    )
    unit = (
        building.units.filter(status="available").order_by("floor", "position").first()
    )
    services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    services.unit_subscribe(actor=consultant, opportunity=deal)
    if contract:
        items = services.payment_plan_create(
            actor=consultant, opportunity=deal, scheme="full", deposit=Decimal("50000")
        )
        services.opportunity_contract(actor=consultant, opportunity=deal)
        if pay:
            for item in items:
                services.receipt_record(
                    actor=consultant,
                    item=item,
                    amount=item.amount,
                    received_on=timezone.localdate(),
                    method="transfer",
                )
    deal.refresh_from_db()
    return deal


def facts_refreshed(*keys: str) -> dict[str, int]:
    """Run the refresh job's body now (the explorer reads only fact tables)."""
    return insight.refresh(only=keys or None)
