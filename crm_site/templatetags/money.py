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
    """¥3,000,000 — Chinese contracts group money by thousands, like English ones.
    A negative amount (a commission clawback) is written -¥1,234.00, the sign before
    the yuan sign as accounts write it; one that rounds to zero has no sign."""
    amount = _decimal(value)
    if amount is None:
        return "—"
    text = f"{abs(amount):,.{int(places)}f}"
    sign = "-" if amount.is_signed() and text.strip("0.,") else ""
    return f"{sign}¥{text}"


@register.filter
def yuan_signed(value) -> str:
    """A difference in yuan with its sign always written: +¥60,000, −¥60,000, ¥0."""
    amount = _decimal(value)
    if amount is None:
        return "—"
    if amount == 0:
        return "¥0"
    return f"{'+' if amount > 0 else '−'}¥{abs(amount):,.0f}"


@register.filter
def price_short(value) -> str:
    """A price in a grid cell: 437万 in Chinese, ¥4.37M in English."""
    amount = _decimal(value)
    if amount is None:
        return "—"
    if (get_language() or "").startswith("zh"):
        return f"{amount / 10000:,.0f}万"
    return f"¥{amount / 1000000:,.2f}M"


_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_PLACES = ["", "拾", "佰", "仟"]
_GROUPS = ["", "万", "亿", "万"]


def _group_capital(group: int) -> str:
    """0 < group < 10000 in capital numerals, inner zeros as one 零, no trailing 零."""
    out, zero = "", False
    for place in range(3, -1, -1):
        digit = group // 10**place % 10
        if digit == 0:
            zero = bool(out)
            continue
        if zero:
            out += "零"
            zero = False
        out += _DIGITS[digit] + _PLACES[place]
    return out


def amount_in_capitals(value: Decimal) -> str:
    """An amount in yuan as Chinese capital numerals (大写金额), as contracts and
    receipts write it: 3000000 → 叁佰万元整, 1409.50 → 壹仟肆佰零玖元伍角,
    100000.05 → 壹拾万元零伍分."""
    amount = value.quantize(Decimal("0.01"))
    sign = "负" if amount < 0 else ""
    fen_total = int(abs(amount) * 100)
    yuan_part, jiao, fen = fen_total // 100, fen_total // 10 % 10, fen_total % 10
    if yuan_part >= 10**16:
        raise ValueError("amount too large for capital numerals")
    integer = ""
    groups = []
    rest = yuan_part
    while rest:
        groups.append(rest % 10000)
        rest //= 10000
    pending_zero = False
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            pending_zero = bool(integer)
            continue
        if integer and (pending_zero or group < 1000):
            integer += "零"
        pending_zero = False
        integer += _group_capital(group) + _GROUPS[index]
        # 万亿: the 亿 of the third group stands before the 万 of the fourth.
        if index == 3 and groups[2] == 0:
            integer += "亿"
    if not integer and not (jiao or fen):
        return "零元整"
    text = sign + (integer + "元" if integer else "")
    if not jiao and not fen:
        return text + "整"
    if jiao:
        text += _DIGITS[jiao] + "角"
    elif integer:
        text += "零"
    if fen:
        text += _DIGITS[fen] + "分"
    return text


@register.filter
def yuan_capital(value) -> str:
    """The amount in capital numerals (大写金额) for signed documents; — when empty."""
    amount = _decimal(value)
    if amount is None or not amount.is_finite() or abs(amount) >= Decimal(10) ** 16:
        return "—"
    return amount_in_capitals(amount)
