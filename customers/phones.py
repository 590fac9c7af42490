"""Phone numbers: one normal form (E.164) for storage, a masked form for display."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection
from dataclasses import dataclass

import phonenumbers
from django.conf import settings
from django.utils.translation import gettext_lazy as _

MOBILE_TYPES = {
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
}


MAINLAND_CODE = 86
MAINLAND_MOBILE_DIGITS = 11
PHONE_CHARACTERS = re.compile(r"[\d\s+\-().]*")


def number_text(text: str) -> str:
    """``text`` with an input method's full-width digits and signs (１３８－００１３,
    ＋８６, the ideographic space) as ASCII when, so folded, it holds only a phone
    number's characters; any other text (a name) is returned as it is."""
    if text.isascii():
        return text
    folded = unicodedata.normalize("NFKC", text)
    return folded if PHONE_CHARACTERS.fullmatch(folded) else text


class InvalidPhone(ValueError):
    pass


def parse_phone(raw: str, *, mobile_only: bool = False) -> phonenumbers.PhoneNumber:
    text = (raw or "").strip()
    if not text:
        raise InvalidPhone(_("Enter a phone number."))
    if not PHONE_CHARACTERS.fullmatch(number_text(text)):
        # phonenumbers reads letters as a keypad's digits ("1380013abcd" is 138 0013
        # 2223) and drops an extension ("x12"): a typo must not save another number.
        raise InvalidPhone(_("This is not a phone number."))
    try:
        number = phonenumbers.parse(text, settings.PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(_("This is not a phone number.")) from exc
    if not phonenumbers.is_valid_number(number):
        national = str(number.national_number)
        if number.country_code == MAINLAND_CODE and national.startswith("1"):
            if len(national) != MAINLAND_MOBILE_DIGITS:
                raise InvalidPhone(_("A mainland mobile number has 11 digits."))
            # Eleven digits from 1, yet no operator hands out numbers starting so.
            raise InvalidPhone(
                _("This is not a valid mobile number: check the first digits.")
            )
        raise InvalidPhone(_("This phone number is not valid."))
    if mobile_only and phonenumbers.number_type(number) not in MOBILE_TYPES:
        raise InvalidPhone(_("Enter a mobile number, not a landline."))
    return number


def normalize_phone(raw: str, *, mobile_only: bool = False) -> str:
    """E.164 form: '138 0013 8000', '+86 138-0013-8000', '8613800138000' → '+8613800138000'."""
    number = parse_phone(raw, mobile_only=mobile_only)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def try_normalize_phone(raw: str) -> str | None:
    try:
        return normalize_phone(raw)
    except InvalidPhone:
        return None


@dataclass(frozen=True)
class TypedMobile:
    """A mobile field's text while it is typed: ``state`` is "empty", "incomplete"
    (digits may still be missing), "valid" (``e164`` set) or "invalid" (``error``
    says why it can never become a mobile number)."""

    state: str
    e164: str = ""
    error: str = ""


def typed_mobile(raw: str) -> TypedMobile:
    """Judge a mobile number as it is typed, for the hint under the field.

    It is called invalid as soon as that is certain (eleven digits from 1 that no
    operator uses, a whole landline, letters), never while digits may be missing.
    """
    text = number_text((raw or "").strip())
    if not text:
        return TypedMobile("empty")
    try:
        return TypedMobile("valid", e164=normalize_phone(text, mobile_only=True))
    except InvalidPhone as exc:
        invalid = TypedMobile("invalid", error=str(exc))
    if not PHONE_CHARACTERS.fullmatch(text):
        return invalid
    incomplete = TypedMobile("incomplete")
    digits = "".join(ch for ch in text if ch.isdigit())
    if text.startswith("+") or digits.startswith("00"):
        code_and_number = digits.removeprefix("00")
        if str(MAINLAND_CODE).startswith(code_and_number):
            return incomplete  # "+", "+8", "0086" so far
        if not code_and_number.startswith(str(MAINLAND_CODE)):
            return _typed_foreign(text, invalid)
        national = code_and_number[2:]
    elif digits.startswith(str(MAINLAND_CODE)) and len(digits) > MAINLAND_MOBILE_DIGITS:
        national = digits[2:]  # 86 186 2222 3333 without the +
    else:
        national = digits
    if national.startswith("1"):
        return incomplete if len(national) < MAINLAND_MOBILE_DIGITS else invalid
    # Not a mobile number: certain once it is a whole landline (0755 1234 5678) or
    # longer than any mainland number.
    if _is_valid(text) or len(national) > 12:
        return invalid
    return incomplete


def _is_valid(text: str) -> bool:
    try:
        parse_phone(text)
    except InvalidPhone:
        return False
    return True


def _typed_foreign(text: str, invalid: TypedMobile) -> TypedMobile:
    try:
        number = phonenumbers.parse(text, settings.PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return TypedMobile("incomplete")
    reason = phonenumbers.is_possible_number_with_reason(number)
    if phonenumbers.is_valid_number(number) or reason in {
        phonenumbers.ValidationResult.TOO_LONG,
        phonenumbers.ValidationResult.INVALID_COUNTRY_CODE,
        phonenumbers.ValidationResult.INVALID_LENGTH,
    }:
        return invalid
    return TypedMobile("incomplete")


# A stored mainland number ("+86" and digits) needs no parsing to be shown: list pages
# show one per row, and phonenumbers.parse() costs ~20 µs each.
_MAINLAND_E164 = re.compile(rf"\+{MAINLAND_CODE}([1-9]\d{{4,11}})")


def national_digits(e164: str) -> str:
    if match := _MAINLAND_E164.fullmatch(e164):
        return match[1]
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164.lstrip("+")
    return str(number.national_number)


def format_phone(e164: str) -> str:
    """Readable form: mainland numbers nationally (138 0013 8000), others internationally."""
    if not e164:
        return ""
    match = _MAINLAND_E164.fullmatch(e164)
    if (
        match
        and settings.PHONE_DEFAULT_REGION == "CN"
        and len(digits := match[1]) == MAINLAND_MOBILE_DIGITS
    ):
        return f"{digits[:3]} {digits[3:7]} {digits[7:]}"
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    if phonenumbers.region_code_for_number(number) == settings.PHONE_DEFAULT_REGION:
        digits = str(number.national_number)
        if len(digits) == 11:
            return f"{digits[:3]} {digits[3:7]} {digits[7:]}"
        return phonenumbers.format_number(
            number, phonenumbers.PhoneNumberFormat.NATIONAL
        )
    return phonenumbers.format_number(
        number, phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )


def mask_phone(e164: str) -> str:
    """138****8000: enough to recognise a number on the phone, not to dial it."""
    if not e164:
        return ""
    digits = national_digits(e164)
    if len(digits) <= 4:
        return "*" * len(digits)
    head = digits[:3] if len(digits) >= 8 else ""
    return f"{head}{'*' * (len(digits) - len(head) - 4)}{digits[-4:]}"


# A run of a phone number's characters in free text, as people type one: digits
# (full-width ones too), spaces, dashes, dots and brackets, a leading plus. A run
# never crosses a line break: a pasted column of figures is many short runs.
_NUMBER_RUN = re.compile(r"[+＋]?\d[\d \t\u3000\-－.．()（）]*")
# A run's groups of digits, the plus going with the first.
_NUMBER_GROUP = re.compile(r"[+＋]?\d+")
# The most characters one number takes as typed (+86 (0755) 1234-5678 and the like).
_LONGEST_TYPED = 24


def numbers_replaced(text: str, numbers: Collection[str], replacement: str) -> str:
    """``text`` with every way one of ``numbers`` (E.164) may be typed in it
    (13800138000, 138 0013 8000, 138-0013-8000, +86 138 0013 8000, full-width
    digits) replaced by ``replacement``. Each run of a number's characters is read
    as a typed number is (number_text, normalize_phone), and where the run holds
    more than the number (other digits typed after it), so is each span of its
    groups of digits that is short enough to be one typed number, longest first:
    the time grows with the run's length, not its square."""
    if not numbers or not text:
        return text
    wanted = set(numbers)
    nationals = {national_digits(number) for number in wanted}
    shortest = min(len(national) for national in nationals)

    def number_end(run: str, groups: list[tuple[int, int]], first: int) -> int | None:
        # The last group of the number typed from ``first`` on, if it is one.
        start = groups[first][0]
        reach = first  # the last group a typed number from ``first`` may end on
        while (
            reach + 1 < len(groups) and groups[reach + 1][1] - start <= _LONGEST_TYPED
        ):
            reach += 1
        for last in range(reach, first - 1, -1):
            span = run[start : groups[last][1]]
            if len(span) > _LONGEST_TYPED:
                continue  # one group longer than any number: nothing to read
            digits = "".join(ch for ch in number_text(span) if ch.isdigit())
            if len(digits) < shortest:
                return None  # the shorter spans hold fewer digits still
            if any(national in digits for national in nationals) and (
                try_normalize_phone(number_text(span)) in wanted
            ):
                return last
        return None

    def replace(match: re.Match[str]) -> str:
        run = match[0]
        digits = "".join(ch for ch in number_text(run.strip()) if ch.isdigit())
        if not any(national in digits for national in nationals):
            return run  # most runs: a date, an amount, someone else's number
        groups = [(g.start(), g.end()) for g in _NUMBER_GROUP.finditer(run)]
        return spans_replaced(
            run, groups, lambda first: number_end(run, groups, first), replacement
        )

    return _NUMBER_RUN.sub(replace, text)


def spans_replaced(
    text: str,
    groups: list[tuple[int, int]],
    number_end: Callable[[int], int | None],
    replacement: str,
) -> str:
    """``text`` with each span of its ``groups`` (start, end) that ``number_end``
    reads as a wanted number (the first group's index in, the last's out, or None)
    replaced by ``replacement``, from the first group on; the text between the
    groups it does not replace stays as typed."""
    parts, done, first = [], 0, 0
    while first < len(groups):
        last = number_end(first)
        if last is None:
            first += 1
            continue
        parts += [text[done : groups[first][0]], replacement]
        done, first = groups[last][1], last + 1
    return "".join(parts) + text[done:]
