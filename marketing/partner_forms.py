"""Marketing forms: referrals, channel partners, brokers, the partner portal."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib.auth import password_validation
from django.utils.translation import gettext_lazy as _

from crm_site.models import User
from crm_site.validation import InputLimits
from customers.phones import InvalidPhone, normalize_phone
from marketing.models import ChannelPartner
from marketing.models.payouts import Payout
from sales.models import Project


class MobileField(forms.CharField):
    """A mainland mobile number in any format, returned in E.164."""

    def clean(self, value):
        value = super().clean(value)
        if not value:
            return value
        try:
            return normalize_phone(value, mobile_only=True)
        except InvalidPhone:
            raise forms.ValidationError(
                _("Enter a valid mobile number."), code="invalid"
            ) from None


def _projects():
    return Project.objects.filter(is_active=True).order_by("name")


class ReferralForm(InputLimits, forms.Form):
    friend_name = forms.CharField(label=_("Friend's name"), max_length=100)
    friend_mobile = MobileField(label=_("Friend's mobile"), max_length=30)
    project = forms.ModelChoiceField(
        label=_("Project"),
        queryset=_projects(),
        required=False,
        empty_label=_("Any project"),
    )
    note = forms.CharField(label=_("Note"), max_length=200, required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = _projects()


class ReferralFilterForm(InputLimits, forms.Form):
    project = forms.ModelChoiceField(
        label=_("Project"), queryset=Project.objects.none(), required=False
    )
    reward = forms.ChoiceField(
        label=_("Reward"),
        required=False,
        choices=[
            ("", _("Any")),
            ("waiting", _("Waiting for a contract")),
            *Payout.Status.choices,
        ],
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = Project.objects.order_by("name")


class PartnerForm(InputLimits, forms.ModelForm):
    contact_phone = MobileField(label=_("contact phone"), max_length=30)

    class Meta:
        model = ChannelPartner
        fields = [
            "name",
            "contact_name",
            "contact_phone",
            "commission_kind",
            "commission_value",
            "is_active",
        ]

    def clean(self):
        data = super().clean()
        if data.get(
            "commission_kind"
        ) == ChannelPartner.CommissionKind.PERCENT and data.get(
            "commission_value", Decimal("0")
        ) > Decimal("100"):
            self.add_error(
                "commission_value", _("A percentage cannot be more than 100.")
            )
        return data


class BrokerForm(InputLimits, forms.Form):
    username = forms.CharField(label=_("Login name"), max_length=150)
    family_name = forms.CharField(label=_("Family name"), max_length=150)
    given_name = forms.CharField(label=_("Given name"), max_length=150)
    password = forms.CharField(
        label=_("Password"), widget=forms.PasswordInput, strip=False
    )

    def clean_username(self) -> str:
        username = self.cleaned_data["username"].strip()
        if User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError(_("This login name is taken."))
        return username

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        password_validation.validate_password(password)
        return password


class PortalRegistrationForm(InputLimits, forms.Form):
    name = forms.CharField(label=_("Customer name"), max_length=100)
    mobile = MobileField(label=_("Customer mobile"), max_length=30)
    project = forms.ModelChoiceField(
        label=_("Project"), queryset=Project.objects.none()
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = _projects()


class ReferralRuleForm(InputLimits, forms.Form):
    project = forms.ModelChoiceField(
        label=_("Project"), queryset=Project.objects.none()
    )
    reward = forms.DecimalField(
        label=_("reward per contract"),
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0"),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = Project.objects.order_by("name")
