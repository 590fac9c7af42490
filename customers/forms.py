"""Customer forms: parse and normalise input; the services do the rest."""

from __future__ import annotations

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Layout, Row, Submit
from django import forms
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm_site.models import User
from crm_site.roles import Role
from customers.models import Customer
from customers.phones import InvalidPhone, normalize_phone


def duplicate_message(existing: Customer, user: User) -> str:
    """The refusal for a twin, linking to the first record when the user may open it."""
    if Customer.objects.visible_to(user).filter(pk=existing.pk).exists():
        return format_html(
            '{} <a href="{}">{}</a>',
            gettext("This mobile number already belongs to a customer:"),
            reverse("customers:customer-detail", args=[existing.pk]),
            existing.name,
        )
    owner = existing.assigned_consultant
    if owner is not None:
        return gettext(
            "This mobile number already belongs to a customer of consultant %(owner)s."
        ) % {"owner": owner.display_name}
    return gettext("This mobile number already belongs to a customer.")


def consultant_choices(user: User):
    qs = User.objects.filter(is_active=True, groups__name=Role.CONSULTANT.value)
    if not user.has_perm("customers.scope_all"):
        qs = qs.filter(team_id=user.team_id) if user.team_id else qs.none()
    return qs.order_by("last_name", "first_name", "username").distinct()


class CustomerForm(forms.ModelForm):
    class Meta:
        model = Customer
        fields = [
            "name",
            "kind",
            "mobile",
            "email",
            "gender",
            "source",
            "stage",
            "assigned_consultant",
            "notes",
        ]
        widgets = {
            "notes": forms.Textarea(attrs={"rows": 3}),
            "mobile": forms.TextInput(
                attrs={
                    "inputmode": "tel",
                    "autocomplete": "off",
                    "placeholder": "138 0013 8000",
                }
            ),
        }

    def __init__(self, *args, user: User, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["name"].widget.attrs["autofocus"] = True
        if user.has_perm("customers.assign_customer"):
            self.fields["assigned_consultant"].queryset = consultant_choices(user)
            self.fields["assigned_consultant"].label_from_instance = lambda u: (
                u.display_name
            )
        else:
            del self.fields["assigned_consultant"]
        self.helper = FormHelper()
        self.helper.layout = Layout(
            Row(
                Column("name", css_class="col-md-6"),
                Column("kind", css_class="col-md-6"),
            ),
            Row(
                Column("mobile", css_class="col-md-6"),
                Column("email", css_class="col-md-6"),
            ),
            Row(
                Column("gender", css_class="col-md-4"),
                Column("source", css_class="col-md-4"),
                Column("stage", css_class="col-md-4"),
            ),
            *(["assigned_consultant"] if "assigned_consultant" in self.fields else []),
            "notes",
            Submit("save", _("Save")),
        )

    def clean_name(self) -> str:
        name = " ".join(self.cleaned_data["name"].split())
        if not name:
            raise forms.ValidationError(gettext("Enter the customer's name."))
        return name

    def clean_mobile(self) -> str:
        try:
            mobile = normalize_phone(self.cleaned_data["mobile"], mobile_only=True)
        except InvalidPhone as exc:
            raise forms.ValidationError(str(exc)) from exc
        existing = (
            Customer.objects.filter(mobile=mobile)
            .exclude(pk=self.instance.pk)
            .select_related("assigned_consultant")
            .first()
        )
        if existing is not None:
            raise forms.ValidationError(duplicate_message(existing, self.user))
        return mobile

    def changed_values(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.fields}
