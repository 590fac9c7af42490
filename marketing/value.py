"""Marketing's part of customer value (customers.value): a referrer (老带新) is
credited with the contracted value of every buyer they referred — the agreed price
of the friend's deals under contract, whichever project they bought in.

The triggers that mark a referrer dirty (a referral recorded or moved by a merge, a
friend's deal signed, repriced or lost): marketing/migrations/
0011_customer_value_triggers.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from customers import value

REFERRED = value.Contribution(
    key="marketing.referred",
    label=_("Referred buyers"),
    part="referred",
    sql="""
SELECT r.referrer_id, o.agreed_price, NULL::bigint, NULL::timestamptz
FROM marketing_referral r
JOIN sales_opportunity o ON o.customer_id = r.friend_id
WHERE o.stage IN ('contracted', 'paid') AND o.agreed_price IS NOT NULL
  AND r.referrer_id <> r.friend_id AND {where}
""",
    customer_expr="r.referrer_id",
)


def register() -> None:
    value.register_contribution(REFERRED)
