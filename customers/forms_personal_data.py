"""Forms of a personal-information request: the ground for it, the file wanted, and
the typed confirmation of an anonymisation."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from customers.models import Customer

FILE_FORMATS = [
    ("zip", _("ZIP with both files (JSON and XLSX)")),
    ("xlsx", _("XLSX, one sheet per section")),
    ("json", _("JSON")),
]


class PersonalDataRequestForm(forms.Form):
    reference = forms.CharField(
        label=_("Ticket reference"),
        max_length=100,
        help_text=_("The number of the customer's request, as it was received."),
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=300,
        help_text=_("Who asked, how, and why this is done."),
    )

    def clean_reference(self) -> str:
        return self.cleaned_data["reference"].strip()

    def clean_reason(self) -> str:
        return self.cleaned_data["reason"].strip()


class PersonalDataExportForm(PersonalDataRequestForm):
    file_format = forms.ChoiceField(
        label=_("File"), choices=FILE_FORMATS, initial="zip"
    )


class AnonymiseForm(PersonalDataRequestForm):
    confirm = forms.CharField(
        label=_("Confirm"),
        max_length=100,
        help_text=_("Type the customer's name or number to confirm."),
    )

    def __init__(self, *args: Any, customer: Customer, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.customer = customer

    def clean_confirm(self) -> str:
        typed = self.cleaned_data["confirm"].strip().lstrip("#")
        if typed not in (self.customer.name, str(self.customer.pk)):
            raise forms.ValidationError(
                _("This is neither the customer's name nor their number.")
            )
        return typed
