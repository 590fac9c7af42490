"""Money in templates: yuan with three-digit grouping whatever the language."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import template
from django.utils.translation import get_language

register = template.Library()


def _decimal(value) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return None


@register.filter
def yuan(value, places: int = 0) -> str:
    """¥3,000,000 — Chinese contracts group money by thousands, like English ones."""
    amount = _decimal(value)
    if amount is None:
        return "—"
    return f"¥{amount:,.{int(places)}f}"


@register.filter
def price_short(value) -> str:
    """A price in a grid cell: 437万 in Chinese, ¥4.37M in English."""
    amount = _decimal(value)
    if amount is None:
        return "—"
    if (get_language() or "").startswith("zh"):
        return f"{amount / 10000:,.0f}万"
    return f"¥{amount / 1000000:,.2f}M"
