"""Amounts in Chinese capital numerals (大写金额) as signed documents write them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from crm_site.templatetags.money import amount_in_capitals, yuan, yuan_capital


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        ("3000000", "叁佰万元整"),
        ("1409.50", "壹仟肆佰零玖元伍角"),
        ("100000.05", "壹拾万元零伍分"),
        ("1234567.89", "壹佰贰拾叁万肆仟伍佰陆拾柒元捌角玖分"),
        ("100010", "壹拾万零壹拾元整"),
        ("10001", "壹万零壹元整"),
        ("1000000001", "壹拾亿零壹元整"),
        ("2000000000000", "贰万亿元整"),
        ("2300.07", "贰仟叁佰元零柒分"),
        ("0.5", "伍角"),
        ("0", "零元整"),
        ("-12.30", "负壹拾贰元叁角"),
    ],
)
def test_amounts_read_as_contracts_write_them(amount, words):
    assert amount_in_capitals(Decimal(amount)) == words


@pytest.mark.parametrize("value", [None, "", "abc", "NaN", "Infinity", "1e20"])
def test_what_is_not_an_amount_shows_a_dash(value):
    assert yuan_capital(value) == "—"


@pytest.mark.parametrize(
    ("amount", "places", "shown"),
    [
        ("1234", 2, "¥1,234.00"),
        ("-1234", 2, "-¥1,234.00"),
        ("-3000000", 0, "-¥3,000,000"),
        ("-0.004", 2, "¥0.00"),
        ("0", 0, "¥0"),
        (None, 0, "—"),
    ],
)
def test_yuan_writes_the_minus_before_the_yuan_sign(amount, places, shown):
    """A clawback of commission reads -¥1,234.00, as accounts write it, never
    ¥-1,234.00; an amount that rounds to zero has no sign."""
    assert yuan(amount, places) == shown
