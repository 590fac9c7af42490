"""Service's part of customer value (customers.value): what serving an owner cost.

- Work orders on the owner's requests count their cost, unless cancelled.
- A chargeback (money a contractor owes back for defective work, due or recovered)
  is taken off the cost of the owner whose request reported the defect.

The triggers that mark an owner dirty: service/migrations/
0018_customer_value_triggers.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from customers import value

WORK_ORDERS = value.Contribution(
    key="service.work_orders",
    label=_("Work orders"),
    part="cost",
    sql="""
SELECT r.customer_id, w.cost, NULL::bigint, NULL::timestamptz
FROM service_servicerequest r
JOIN service_workorder w ON w.request_id = r.id
WHERE w.status <> 'cancelled' AND {where}
""",
    customer_expr="r.customer_id",
)

CHARGEBACKS = value.Contribution(
    key="service.chargebacks",
    label=_("Chargebacks"),
    part="cost",
    sql="""
SELECT r.customer_id, -cb.amount, NULL::bigint, NULL::timestamptz
FROM service_servicerequest r
JOIN service_chargeback cb ON cb.request_id = r.id
WHERE {where}
""",
    customer_expr="r.customer_id",
)


def register() -> None:
    value.register_contribution(WORK_ORDERS)
    value.register_contribution(CHARGEBACKS)
