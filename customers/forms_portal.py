"""The owners' sign-in forms (customers.views.portal)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from crm_site.validation import InputLimits
from customers.phones import InvalidPhone, normalize_phone


class MobileForm(InputLimits, forms.Form):
    mobile = forms.CharField(
        label=_("Mobile number"),
        max_length=30,
        widget=forms.TextInput(
            attrs={
                "inputmode": "tel",
                "autocomplete": "tel",
                "class": "form-control form-control-lg",
            }
        ),
    )

    def clean_mobile(self) -> str:
        try:
            return normalize_phone(self.cleaned_data["mobile"], mobile_only=True)
        except InvalidPhone as exc:
            raise forms.ValidationError(str(exc)) from exc


class CodeForm(InputLimits, forms.Form):
    code = forms.RegexField(
        label=_("Code from the SMS"),
        regex=r"^\s*\d{6}\s*$",
        max_length=12,
        error_messages={"invalid": _("The code has six digits.")},
        widget=forms.TextInput(
            attrs={
                "inputmode": "numeric",
                "autocomplete": "one-time-code",
                "class": "form-control form-control-lg",
            }
        ),
    )
    remember = forms.BooleanField(
        label=_("Remember this device for 30 days"),
        required=False,
        help_text=_("Only on your own phone, never on a shared computer."),
    )

    def clean_code(self) -> str:
        return self.cleaned_data["code"].strip()
