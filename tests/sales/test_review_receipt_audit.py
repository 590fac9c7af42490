"""Money in leaves a trail: a receipt is audited on the deal (who recorded what, on
which line), as the plan it pays is."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from crm_site.audit import audit_entries_for
from sales import services
from tests.factories import make_building

pytestmark = pytest.mark.django_db


def test_a_receipt_leaves_an_audit_entry_on_the_deal(consultant, own_customer):
    unit = make_building().units.order_by("pk").first()
    deal = services.opportunity_open(
        actor=consultant, customer=own_customer, project=unit.building.project
    )
    services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    services.unit_subscribe(actor=consultant, opportunity=deal)
    item = services.payment_plan_create(
        actor=consultant, opportunity=deal, scheme="full", deposit=Decimal("50000")
    )[0]
    before = audit_entries_for(deal).count()
    services.receipt_record(
        actor=consultant,
        item=item,
        amount=Decimal("20000"),
        received_on=timezone.localdate(),
        method="transfer",
        reference="POS-001",
    )
    entries = list(audit_entries_for(deal))
    assert len(entries) == before + 1
    entry = entries[0]
    assert entry.actor == consultant
    assert "receipts" in entry.changes
    assert "20000.00" in entry.changes["receipts"]["new"]
