from __future__ import annotations

import pytest

from customers.phones import InvalidPhone, format_phone, mask_phone, normalize_phone


@pytest.mark.parametrize(
    "raw",
    [
        "138 0013 8000",
        "+86 138-0013-8000",
        "8613800138000",
        "13800138000",
        "0086 13800138000",
    ],
)
def test_normalize_phone_gives_one_e164_form_for_every_way_of_writing_it(raw):
    assert normalize_phone(raw) == "+8613800138000"


@pytest.mark.parametrize("raw", ["", "12345", "abc", "138001380001234"])
def test_normalize_phone_refuses_what_is_not_a_number(raw):
    with pytest.raises(InvalidPhone):
        normalize_phone(raw)


def test_normalize_phone_refuses_a_landline_where_a_mobile_is_needed():
    assert normalize_phone("021-6234 5678") == "+862162345678"
    with pytest.raises(InvalidPhone):
        normalize_phone("021-6234 5678", mobile_only=True)


def test_normalize_phone_keeps_foreign_numbers_international():
    assert normalize_phone("+852 9123 4567") == "+85291234567"


def test_mask_phone_hides_the_middle_digits():
    assert mask_phone("+8613800138000") == "138****8000"


def test_format_phone_groups_mainland_mobiles():
    assert format_phone("+8613800138000") == "138 0013 8000"
