"""Phone numbers: one normal form (E.164) for storage, a masked form for display."""

from __future__ import annotations

import phonenumbers
from django.conf import settings
from django.utils.translation import gettext_lazy as _

MOBILE_TYPES = {
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
}


class InvalidPhone(ValueError):
    pass


def parse_phone(raw: str, *, mobile_only: bool = False) -> phonenumbers.PhoneNumber:
    text = (raw or "").strip()
    if not text:
        raise InvalidPhone(_("Enter a phone number."))
    try:
        number = phonenumbers.parse(text, settings.PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(_("This is not a phone number.")) from exc
    if not phonenumbers.is_valid_number(number):
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


def national_digits(e164: str) -> str:
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164.lstrip("+")
    return str(number.national_number)


def format_phone(e164: str) -> str:
    """Readable form: mainland numbers nationally (138 0013 8000), others internationally."""
    if not e164:
        return ""
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
