"""Sales use cases. Other apps call these, never the models' internals."""

from __future__ import annotations

from sales.services.changes import (
    deal_change_decide,
    deal_change_request,
    deal_refund_mark_paid,
)
from sales.services.commission import commission_waive
from sales.services.deals import (
    UnitUnavailable,
    holds_expire,
    opportunity_contract,
    opportunity_open,
    unit_release,
    unit_reserve,
    unit_subscribe,
)
from sales.services.inventory import (
    building_generate,
    floor_numbers,
    price_plan_apply,
    price_plan_preview,
)
from sales.services.money import (
    discount_decide,
    discount_request,
    payment_plan_create,
    receipt_record,
)

__all__ = [
    "UnitUnavailable",
    "building_generate",
    "commission_waive",
    "deal_change_decide",
    "deal_change_request",
    "deal_refund_mark_paid",
    "discount_decide",
    "discount_request",
    "floor_numbers",
    "holds_expire",
    "opportunity_contract",
    "opportunity_open",
    "payment_plan_create",
    "price_plan_apply",
    "price_plan_preview",
    "receipt_record",
    "unit_release",
    "unit_reserve",
    "unit_subscribe",
]
