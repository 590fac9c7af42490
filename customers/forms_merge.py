"""The merge form: per field, whose value survives."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from crm_site.validation import InputLimits
from customers.models import Customer
from customers.services.merge import MERGE_FIELDS, merge_defaults

SIDE_CHOICES = [("survivor", _("Survivor's value")), ("absorbed", _("Other value"))]


class MergeForm(InputLimits, forms.Form):
    """One radio per merge field; the initial choice keeps non-empty survivor values."""

    def __init__(
        self, *args: Any, survivor: Customer, absorbed: Customer, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        defaults = merge_defaults(survivor=survivor, absorbed=absorbed)
        meta = Customer._meta
        for name in MERGE_FIELDS:
            self.fields[name] = forms.ChoiceField(
                label=meta.get_field(name).verbose_name,
                choices=SIDE_CHOICES,
                initial=defaults[name],
                widget=forms.RadioSelect,
            )

    def choices(self) -> dict[str, str]:
        return {name: self.cleaned_data[name] for name in MERGE_FIELDS}
