"""Service desk forms."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm_site.models import User
from crm_site.roles import Role
from customers.phones import InvalidPhone, normalize_phone
from service.models import Category, Department, ServiceRequest, Severity


class RequestForm(forms.Form):
    """Recording a request from a call takes a minute: the owner's phone first."""

    mobile = forms.CharField(
        label=_("Owner's mobile"),
        max_length=30,
        widget=forms.TextInput(
            attrs={"inputmode": "tel", "autocomplete": "off", "autofocus": True}
        ),
    )
    kind = forms.ChoiceField(label=_("Kind"), choices=ServiceRequest.Kind.choices)
    category = forms.ChoiceField(label=_("Category"), choices=Category.choices)
    severity = forms.ChoiceField(
        label=_("Severity"), choices=Severity.choices, initial=Severity.NORMAL
    )
    channel = forms.ChoiceField(
        label=_("Channel"), choices=ServiceRequest.Channel.choices
    )
    description = forms.CharField(
        label=_("Description"),
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    def clean_mobile(self) -> str:
        try:
            return normalize_phone(self.cleaned_data["mobile"])
        except InvalidPhone as exc:
            raise forms.ValidationError(str(exc)) from exc

    def clean_description(self) -> str:
        text = self.cleaned_data["description"].strip()
        if not text:
            raise forms.ValidationError(gettext("Describe the problem."))
        return text


class AssignForm(forms.Form):
    department = forms.ChoiceField(label=_("Hand to"), choices=Department.choices)
    handler = forms.ModelChoiceField(
        label=_("Person"), queryset=User.objects.none(), required=False
    )
    note = forms.CharField(label=_("Note"), max_length=300, required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["handler"].queryset = (
            User.objects.filter(
                is_active=True,
                groups__name__in=[Role.SERVICE_AGENT.value, Role.SERVICE_MANAGER.value],
            )
            .distinct()
            .order_by("last_name", "first_name")
        )
        self.fields["handler"].label_from_instance = lambda u: u.display_name


class ResolveForm(forms.Form):
    note = forms.CharField(label=_("What was done"), max_length=300)


class CallbackForm(forms.Form):
    satisfied = forms.TypedChoiceField(
        label=_("Is the owner satisfied?"),
        choices=[("1", _("Satisfied")), ("0", _("Not satisfied"))],
        coerce=lambda v: v == "1",
        widget=forms.RadioSelect,
    )
    note = forms.CharField(label=_("What the owner said"), max_length=300)
