from __future__ import annotations

import time

import pytest

from customers.phones import (
    InvalidPhone,
    format_phone,
    mask_phone,
    normalize_phone,
    number_text,
    numbers_replaced,
    typed_mobile,
)


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


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "12345",
        "abc",
        "138001380001234",
        # Letters are a typo, not a keypad word: phonenumbers would read "1380013abcd"
        # as 138 0013 2223 and drop a trailing "x" (an extension) without a word.
        "1380013abcd",
        "13900009999x",
        "0571 8888 8888 ext. 12",
    ],
)
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


def test_a_number_typed_in_full_width_is_folded_and_a_name_is_not():
    assert number_text("１３８－００１３　８０００") == "138-0013 8000"
    assert number_text("＋８６１３８") == "+86138"
    assert number_text("王小明") == "王小明"
    assert number_text("ＡＢＣ") == "ＡＢＣ"  # not a number: left as typed


def test_a_full_width_number_still_being_typed_is_incomplete_not_invalid():
    assert typed_mobile("１８６－１２３４").state == "incomplete"
    assert typed_mobile("１８６－１２３４－５６７８").e164 == "+8618612345678"


MOBILE = "+8613800138000"


def test_number_scrub_of_a_long_pasted_table_takes_well_under_a_second_a_kb():
    # A pasted column of figures (digits, spaces, line breaks), ~10 KB, the
    # person's number on its last line.
    text = "\n".join(f"{i % 97} {i % 13}" for i in range(2000)) + "\n13800138000"
    started = time.monotonic()
    scrubbed = numbers_replaced(text, [MOBILE], "***")
    elapsed = time.monotonic() - started
    assert scrubbed.endswith("\n***") and scrubbed.count("***") == 1
    assert elapsed < 2.0, f"{len(text)} characters took {elapsed:.1f} s"


def test_number_scrub_of_a_long_line_of_figures_grows_with_its_length():
    # The same figures on one line: one run of ~15 KB.
    text = " ".join(str(i % 97) for i in range(5000)) + " 138 0013 8000 2次"
    started = time.monotonic()
    scrubbed = numbers_replaced(text, [MOBILE], "***")
    elapsed = time.monotonic() - started
    assert scrubbed.endswith(" *** 2次") and scrubbed.count("***") == 1
    assert elapsed < 2.0, f"{len(text)} characters took {elapsed:.1f} s"


def test_a_number_is_not_read_across_a_line_break():
    text = "138 0013\n8000 台账"
    assert numbers_replaced(text, [MOBILE], "***") == text
