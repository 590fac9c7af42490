"""Limits every form and query string applies to dates and numbers.

A date in the year 9999 or a price of 1e400 is never what a user meant, and
used to reach date arithmetic or a numeric column and end in a 500. Forms mix
in ``InputLimits``; views reading a bare query-string value use ``parse_date``
and ``parse_id``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from django import forms
from django.core.validators import (
    DecimalValidator,
    MaxValueValidator,
    MinValueValidator,
)
from django.utils.dateparse import parse_date as _parse_date
from django.utils.translation import gettext_lazy as _

# Customers' birth dates go back this far; nothing the CRM plans goes beyond
# a lifetime ahead. Both keep date arithmetic (± a few years) in range.
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2099, 12, 31)
# Money and areas fit a DecimalField(max_digits=14, decimal_places=2).
MAX_DIGITS = 14
# PostgreSQL integer columns.
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
BIGINT_MAX = 2**63 - 1


class DateInRange:
    """A date (or the day of a datetime) between EARLIEST_DATE and LATEST_DATE."""

    message = _("Enter a date between %(earliest)s and %(latest)s.")
    code = "date_range"

    def __call__(self, value: date | datetime) -> None:
        day = value.date() if isinstance(value, datetime) else value
        if not EARLIEST_DATE <= day <= LATEST_DATE:
            raise forms.ValidationError(
                self.message,
                code=self.code,
                params={"earliest": EARLIEST_DATE, "latest": LATEST_DATE},
            )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DateInRange)


def limit_field(field: forms.Field) -> None:
    """Add the range checks a field lacks (idempotent)."""
    if isinstance(field, forms.DateField | forms.DateTimeField):
        if not any(isinstance(v, DateInRange) for v in field.validators):
            field.validators.append(DateInRange())
            kind = "date" if isinstance(field, forms.DateField) else "datetime"
            suffix = "" if kind == "date" else "T00:00"
            field.widget.attrs.setdefault("min", f"{EARLIEST_DATE.isoformat()}{suffix}")
            field.widget.attrs.setdefault("max", f"{LATEST_DATE.isoformat()}{suffix}")
    elif isinstance(field, forms.DecimalField):
        if field.max_digits is None:
            field.max_digits = MAX_DIGITS
            field.validators.append(DecimalValidator(MAX_DIGITS, field.decimal_places))
    elif isinstance(field, forms.IntegerField):
        if field.max_value is None:
            field.max_value = INT_MAX
            field.validators.append(MaxValueValidator(INT_MAX))
            field.widget.attrs.setdefault("max", INT_MAX)
        if field.min_value is None:
            field.min_value = INT_MIN
            field.validators.append(MinValueValidator(INT_MIN))


class InputLimits:
    """Form mixin: every date, decimal and integer field gets sane bounds."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            limit_field(field)


def clean_date_range(
    form: forms.Form,
    start_field: str,
    end_field: str,
    *,
    start: date | None = None,
    end: date | None = None,
    max_days: int | None = None,
    too_long: str | None = None,
) -> tuple[date | None, date | None]:
    """Check a start/end pair on a form: start not after end, at most ``max_days``.

    ``start`` and ``end`` default to the cleaned fields (a form may pass its own
    defaults). Errors go on the start field; the pair returned is corrected so
    that a filter can still run on it."""
    start = start or form.cleaned_data.get(start_field)
    end = end or form.cleaned_data.get(end_field)
    if start and end and start > end:
        form.add_error(start_field, _("The start is after the end."))
        start = end
    if start and end and max_days is not None and (end - start).days > max_days:
        form.add_error(
            start_field,
            too_long or _("Choose at most %(days)s days.") % {"days": max_days},
        )
        start = end - timedelta(days=max_days)
    return start, end


def parse_date(value: str | None) -> date | None:
    """A query-string date, or None when it is not a real date within range."""
    try:
        day = _parse_date((value or "").strip())
    except ValueError:
        return None
    if day is None or not EARLIEST_DATE <= day <= LATEST_DATE:
        return None
    return day


def parse_id(value: str | None) -> int | None:
    """A query-string or POST primary key, or None when it cannot be one."""
    value = (value or "").strip()
    # More digits than a bigint holds is no id (and int() refuses past 4,300).
    if not value.isascii() or not value.isdigit() or len(value) > 19:
        return None
    number = int(value)
    return number if 0 < number <= BIGINT_MAX else None


def parse_decimal(value: str | None) -> Decimal | None:
    """A finite decimal of at most MAX_DIGITS digits, or None."""
    try:
        number = Decimal((value or "").strip())
    except ArithmeticError:
        return None
    # At most MAX_DIGITS - 2 digits before the point (cents after it).
    if not number.is_finite() or number.adjusted() >= MAX_DIGITS - 2:
        return None
    return number


def errors_text(form: forms.BaseForm) -> str:
    """A form's errors for a message shown away from the form: each under its
    field's label as the page shows it (not the field's name in the code)."""
    parts = []
    for name, errors in form.errors.items():
        field = form.fields.get(name)
        text = " ".join(str(error) for error in errors)
        if field is not None and field.label:
            text = _("%(field)s: %(errors)s") % {"field": field.label, "errors": text}
        parts.append(text)
    return " ".join(parts)
