"""Forms of the deposit screens: parse and normalise; sales.services.deposits works."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm_site.models import User
from crm_site.templatetags.money import yuan
from crm_site.validation import InputLimits
from crm_site.widgets import DateInput
from customers.models import Customer
from sales.models import IntentDeposit, Project, Receipt

# Customers a search offers to choose from.
CANDIDATES = 20
# The most a deposit of intent may be unless the project's usual deposit is more.
# A deposit holds a buyer's place in the queue; it is tens of thousands of yuan,
# rarely a few hundred thousand, never millions: an amount past this is a slip of
# zeros at the desk (50000000 for 50000), and the project has no maximum of its own.
MAX_DEPOSIT = Decimal("10000000.00")


class DepositTakeForm(InputLimits, forms.Form):
    customer = forms.ModelChoiceField(
        label=_("Customer"),
        queryset=Customer.objects.none(),
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Search for the buyer and choose them."),
            "invalid_choice": _("Choose a customer you can see."),
        },
    )
    receipt_number = forms.CharField(label=_("Receipt number"), max_length=40)
    amount = forms.DecimalField(
        label=_("Amount"), min_value=Decimal("0.01"), decimal_places=2
    )
    method = forms.ChoiceField(label=_("Method"), choices=Receipt.Method.choices)
    paid_on = forms.DateField(
        label=_("Paid on"),
        # A date input takes ISO dates whatever the page's language.
        widget=DateInput(),
    )

    def __init__(
        self,
        *args,
        user: User,
        project: Project,
        candidates: list[Customer],
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        # The deposit's consultant takes the customer on: one they may change (a
        # customer of the public pool is claimed first, under the claim's rules).
        self.fields["customer"].queryset = Customer.objects.editable_by(
            user
        ).identifiable()
        # Only the search results are offered; any such customer is accepted.
        self.fields["customer"].widget.choices = [
            (c.pk, f"{c.name} · {c.mobile_for(user)}") for c in candidates
        ]
        self.fields["amount"].initial = project.deposit_amount
        self.max_amount = max(MAX_DEPOSIT, project.deposit_amount)
        self.fields["paid_on"].initial = timezone.localdate()

    def clean_receipt_number(self) -> str:
        return self.cleaned_data["receipt_number"].strip()

    def clean_amount(self) -> Decimal:
        value = self.cleaned_data["amount"]
        if value > self.max_amount:
            raise forms.ValidationError(
                gettext(
                    "A deposit of intent is at most %(limit)s: check the number of "
                    "zeros."
                )
                % {"limit": yuan(self.max_amount)}
            )
        return value

    def clean_paid_on(self):
        value = self.cleaned_data["paid_on"]
        if value > timezone.localdate():
            raise forms.ValidationError(
                gettext("Money cannot be received in the future.")
            )
        return value


class DepositFilterForm(InputLimits, forms.Form):
    q = forms.CharField(
        label=_("Name, queue number or receipt"), max_length=100, required=False
    )
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("Any status")), *IntentDeposit.Status.choices],
    )
    qualification = forms.ChoiceField(
        label=_("Purchase qualification"),
        required=False,
        choices=[("", _("Any qualification")), *IntentDeposit.Qualification.choices],
    )


class RefundRequestForm(InputLimits, forms.Form):
    reason = forms.CharField(label=_("Reason for the refund"), max_length=200)


class QualificationForm(InputLimits, forms.Form):
    result = forms.ChoiceField(
        label=_("Result of the check"),
        choices=[
            ("qualified", _("Qualified")),
            ("unqualified", _("Not qualified")),
        ],
    )
    reference = forms.CharField(
        label=_("Check reference"),
        max_length=100,
        help_text=_("E.g. the housing bureau's check number."),
    )
