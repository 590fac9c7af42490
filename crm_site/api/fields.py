"""Serializer fields the API's resources share."""

from __future__ import annotations

from rest_framework import serializers

from crm_site.validation import EARLIEST_DATE, LATEST_DATE, DateInRange


class DateTimeField(serializers.DateTimeField):
    """DRF's, kept to the house's range (crm_site.validation, 1900–2099) as every
    form and query string is.

    A time so far out that it cannot be made aware (the year 1, read in Asia/Shanghai,
    overflows on its way to UTC) is out of that range too: refused with the same
    message, where DRF would let the OverflowError through (a 500)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        if not any(isinstance(v, DateInRange) for v in self.validators):
            self.validators.append(DateInRange())

    def to_internal_value(self, value):
        try:
            return super().to_internal_value(value)
        except OverflowError:
            raise serializers.ValidationError(
                str(DateInRange.message)
                % {"earliest": EARLIEST_DATE, "latest": LATEST_DATE},
                code=DateInRange.code,
            ) from None
