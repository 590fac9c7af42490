"""The price a customer is quoted, computed in one place for every channel."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sales.models import Unit

HUNDRED = Decimal("100")


@dataclass(frozen=True)
class Quote:
    list_price: Decimal
    discount_percent: Decimal
    discount_amount: Decimal
    price: Decimal
    floor_price: Decimal | None

    @property
    def below_floor(self) -> bool:
        return self.floor_price is not None and self.price < self.floor_price


def quote(*, unit: Unit, discount_percent: Decimal = Decimal("0")) -> Quote:
    """List price less the discount, rounded to the yuan (half up)."""
    discount_amount = (unit.list_price * discount_percent / HUNDRED).quantize(
        Decimal("1"), rounding=ROUND_HALF_UP
    )
    return Quote(
        list_price=unit.list_price,
        discount_percent=discount_percent,
        discount_amount=discount_amount,
        price=unit.list_price - discount_amount,
        floor_price=unit.floor_price,
    )
