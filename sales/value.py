"""Sales' part of customer value (customers.value): the agreed price of each deal
under contract (contracted or paid) counts for the deal's buyer.

Co-buyers (sales.CoBuyer) add nothing: a home is counted once, for the principal
buyer who holds the deal, so the customers' values add up to the contracted total.
The triggers that mark a buyer dirty: sales/migrations/0025_customer_value_triggers.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from customers import value

CONTRACTED = value.Contribution(
    key="sales.contracted",
    label=_("Contracted deals"),
    part="contracted",
    sql="""
SELECT o.customer_id, o.agreed_price, o.project_id, o.created_at
FROM sales_opportunity o
WHERE o.stage IN ('contracted', 'paid') AND o.agreed_price IS NOT NULL AND {where}
""",
    customer_expr="o.customer_id",
)


def _projects() -> list[tuple[int, str]]:
    from sales.models import Project

    return list(Project.objects.order_by("name").values_list("pk", "name"))


def register() -> None:
    value.register_contribution(CONTRACTED)
    value.register_projects(_projects)
