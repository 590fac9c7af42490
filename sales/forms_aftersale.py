"""Forms of the sale after contract: a project's change and commission rules, the
commission list's filters and the reason a clawback line is written off."""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING

from django import forms
from django.utils.translation import gettext_lazy as _

from crm_site.validation import InputLimits
from sales.models import ChangeRule, Commission, CommissionRule, Project
from sales.services.commission import WAIVE_REASON_MAX
from sales.services.sessions import projects_visible_to

if TYPE_CHECKING:
    from crm_site.models import User


class ChangeRuleForm(InputLimits, forms.ModelForm):
    class Meta:
        model = ChangeRule
        fields = [
            "forfeit_basis",
            "forfeit_subscribed",
            "forfeit_contracted",
            "buyer_change_fee",
            "unit_change_keeps_money",
        ]
        help_texts = {
            "forfeit_subscribed": _("A percentage of the agreed price, or yuan."),
            "forfeit_contracted": _("A percentage of the agreed price, or yuan."),
        }

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("forfeit_basis") == "percent":
            for name in ("forfeit_subscribed", "forfeit_contracted"):
                value = cleaned.get(name)
                if value is not None and value > 100:
                    self.add_error(name, _("A percentage is at most 100."))
        return cleaned


class CommissionRuleForm(InputLimits, forms.ModelForm):
    class Meta:
        model = CommissionRule
        fields = ["basis", "rate", "earned_at"]
        # The model's "basis" reads 报备方式 (a registration's); here it is how the
        # commission is calculated.
        labels = {"basis": _("Calculated as")}
        help_texts = {"rate": _("A percentage of the agreed price, or yuan per unit.")}

    def clean(self) -> dict:
        cleaned = super().clean()
        rate = cleaned.get("rate")
        if cleaned.get("basis") == "percent" and rate is not None and rate > 100:
            self.add_error("rate", _("A percentage is at most 100."))
        return cleaned


MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class CommissionFilterForm(forms.Form):
    month = forms.CharField(
        label=_("Month"),
        required=False,
        widget=forms.TextInput(attrs={"type": "month"}),
    )
    project = forms.ModelChoiceField(
        label=_("Project"),
        queryset=Project.objects.order_by("name"),
        required=False,
        empty_label=_("All projects"),
    )
    status = forms.ChoiceField(
        label=_("Status"),
        choices=[("", _("All")), *Commission.Status.choices],
        required=False,
    )

    def __init__(self, *args, user: User | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if user is not None:
            # Only a project the user's team sells, as the sales dashboard offers.
            self.fields["project"].queryset = projects_visible_to(user).order_by("name")

    def clean_month(self) -> dt.date | None:
        text = (self.cleaned_data.get("month") or "").strip()
        if not text:
            return None
        match = MONTH.match(text)
        if match is None or not 1 <= int(match[2]) <= 12 or int(match[1]) < 2000:
            raise forms.ValidationError(_("Enter a month as YYYY-MM."))
        return dt.date(int(match[1]), int(match[2]), 1)


class CommissionWaiveForm(forms.Form):
    """Why a clawback line will not be recovered (the consultant left...)."""

    reason = forms.CharField(
        label=_("Reason for writing off"),
        max_length=WAIVE_REASON_MAX,
        error_messages={
            "required": _("Give the reason for writing the clawback off."),
            "max_length": _("The reason is at most %(limit_value)s characters."),
        },
        # One small form per line of the commission list.
        widget=forms.TextInput(
            attrs={
                "class": "form-control form-control-sm",
                "placeholder": _("Reason for writing off"),
                "aria-label": _("Reason for writing off"),
            }
        ),
    )
