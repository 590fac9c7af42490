"""The price a customer is quoted, computed in one place for every channel."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sales.models import DealChange, Unit

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


@dataclass(frozen=True)
class PriceEffect:
    """What approving a request does to a deal's price, for the approver to weigh:
    the list price, the deal's price now and after, the discount, the difference."""

    list_price: Decimal | None
    before: Decimal | None
    # None when the request ends the deal (a cancelled subscription).
    after: Decimal | None
    discount_percent: Decimal
    floor_price: Decimal | None = None
    # Changing units: the list price of the unit the deal leaves.
    old_list_price: Decimal | None = None

    @property
    def difference(self) -> Decimal | None:
        """after − before in yuan: negative when the deal brings in less."""
        if self.before is None:
            return None
        return (self.after or Decimal("0")) - self.before

    @property
    def discount_amount(self) -> Decimal | None:
        if self.list_price is None or self.after is None:
            return None
        return self.list_price - self.after

    @property
    def below_floor(self) -> bool:
        return (
            self.floor_price is not None
            and self.after is not None
            and self.after < self.floor_price
        )


def deal_price(deal) -> Decimal | None:
    """The deal's price now: agreed at subscription, before that quoted for its unit."""
    if deal.agreed_price is not None:
        return deal.agreed_price
    if deal.unit is None:
        return None
    return quote(unit=deal.unit, discount_percent=deal.discount_percent).price


def discount_effect(request) -> PriceEffect | None:
    """A discount request (DiscountRequest); None when the deal holds no unit any more."""
    deal = request.opportunity
    if deal.unit is None:
        return None
    after = quote(unit=deal.unit, discount_percent=request.percent)
    return PriceEffect(
        list_price=deal.unit.list_price,
        before=deal_price(deal),
        after=after.price,
        discount_percent=request.percent,
        floor_price=deal.unit.floor_price,
    )


def change_effect(change) -> PriceEffect:
    """A change after subscription (DealChange): another unit is repriced at the deal's
    discount, a cancellation loses the price, another buyer changes nothing."""
    deal = change.opportunity
    before = deal_price(deal)
    old_list = deal.unit.list_price if deal.unit else None
    if change.kind == DealChange.Kind.CHANGE_UNIT and change.new_unit is not None:
        after = quote(unit=change.new_unit, discount_percent=deal.discount_percent)
        return PriceEffect(
            list_price=change.new_unit.list_price,
            before=before,
            after=after.price,
            discount_percent=deal.discount_percent,
            floor_price=change.new_unit.floor_price,
            old_list_price=old_list,
        )
    return PriceEffect(
        list_price=old_list,
        before=before,
        after=None if change.kind == DealChange.Kind.CANCEL else before,
        discount_percent=deal.discount_percent,
        floor_price=deal.unit.floor_price if deal.unit else None,
    )
