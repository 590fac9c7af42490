"""Marketing forms: segments, campaigns, cost lines, check-in, deal attribution."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from crm_site.validation import InputLimits
from crm_site.widgets import DateInput
from customers.models import Customer, Tag, ValueTier
from marketing.models import Campaign, CostLine, Segment
from sales.models import Opportunity, Project

DATE = DateInput()


class SegmentForm(InputLimits, forms.ModelForm):
    """A segment's name and filters; the filters are kept as JSON in `criteria`."""

    CRITERIA = [
        "stage",
        "project",
        "source",
        "tag",
        "contact_after",
        "contact_before",
        "satisfaction",
        "open_complaints",
        "consent",
        "value_min",
        "value_tier",
    ]

    stage = forms.ChoiceField(label=_("Lifecycle stage"), required=False)
    project = forms.ModelChoiceField(
        label=_("Interested in project"),
        required=False,
        queryset=Project.objects.all(),
        empty_label=_("Any project"),
    )
    source = forms.ChoiceField(label=_("Source channel"), required=False)
    tag = forms.ModelChoiceField(
        label=_("Tag"),
        required=False,
        queryset=Tag.objects.all(),
        empty_label=_("Any tag"),
    )
    contact_after = forms.DateField(
        label=_("Last contact on or after"), required=False, widget=DATE
    )
    contact_before = forms.DateField(
        label=_("Last contact before"), required=False, widget=DATE
    )
    satisfaction = forms.ChoiceField(
        label=_("Owner satisfaction (surveys and callbacks)"),
        required=False,
        choices=[
            ("", _("Any")),
            ("satisfied", _("Satisfied (survey index 80+, never unhappy)")),
            ("unsatisfied", _("Not satisfied (survey index below 60 or a callback)")),
        ],
    )
    open_complaints = forms.ChoiceField(
        label=_("Open complaints"),
        required=False,
        choices=[
            ("", _("Any")),
            ("yes", _("Has open complaints")),
            ("no", _("None open")),
        ],
    )
    consent = forms.ChoiceField(
        label=_("Consented to"),
        required=False,
        choices=[
            ("", _("Any marketing channel")),
            ("email", _("E-mail")),
            ("sms", _("SMS")),
            ("phone", _("Phone")),
        ],
    )

    # Customer value (customers.value): the score and the tier of the value facts.
    value_min = forms.DecimalField(
        label=_("Value score at least (CNY)"),
        required=False,
        max_digits=16,
        decimal_places=2,
        help_text=_("Contracted value + referred buyers' share − service cost."),
    )
    value_tier = forms.ModelChoiceField(
        label=_("Value tier"),
        required=False,
        queryset=ValueTier.objects.all(),
        empty_label=_("Any tier"),
    )

    class Meta:
        model = Segment
        fields = ["name"]

    def __init__(self, *args, **kwargs) -> None:
        instance = kwargs.get("instance")
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = dict(instance.criteria)
        super().__init__(*args, **kwargs)
        self.fields["stage"].choices = [("", _("Any stage")), *Customer.Stage.choices]
        self.fields["source"].choices = [
            ("", _("Any source")),
            *Customer.Source.choices,
        ]

    def clean(self) -> dict:
        data = super().clean()
        after, before = data.get("contact_after"), data.get("contact_before")
        if after and before and after >= before:
            self.add_error(
                "contact_before", _("Must be later than the 'on or after' date.")
            )
        return data

    def criteria(self) -> dict:
        """The filters set, as JSON-friendly strings (ids, ISO dates)."""
        result = {}
        for name in self.CRITERIA:
            value = self.cleaned_data.get(name)
            if value in (None, ""):
                continue
            if isinstance(value, date):
                value = value.isoformat()
            elif isinstance(value, Decimal):
                value = str(value)
            elif hasattr(value, "pk"):
                value = value.pk
            result[name] = value
        return result

    def save(self, commit: bool = True) -> Segment:
        self.instance.criteria = self.criteria()
        return super().save(commit=commit)


class CampaignForm(InputLimits, forms.ModelForm):
    class Meta:
        model = Campaign
        fields = Campaign.EDITABLE_FIELDS
        widgets = {
            "starts_on": DATE,
            "ends_on": DATE,
            "message": forms.Textarea(attrs={"rows": 4}),
        }
        help_texts = {
            "message": _(
                "Each invitation adds the guest's code, a sign-up link and an unsubscribe link."
            ),
            "segment": _("Its members are copied into the campaign when it starts."),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.status != Campaign.Status.PLANNED:
            # The members were taken from the segment at the start: it cannot change.
            self.fields["segment"].disabled = True
            self.fields["min_level"].disabled = True

    def clean(self) -> dict:
        data = super().clean()
        starts, ends = data.get("starts_on"), data.get("ends_on")
        if starts and ends and ends < starts:
            self.add_error("ends_on", _("The campaign cannot end before it starts."))
        if (data.get("invite_email") or data.get("invite_sms")) and not data.get(
            "segment"
        ):
            self.add_error("segment", _("Invitations go to a segment: choose one."))
        if data.get("min_level") and data.get("kind") != Campaign.Kind.EVENT:
            self.add_error("min_level", _("Only an event can be kept to club members."))
        if data.get("invite_email") and not data.get("email_subject"):
            self.add_error("email_subject", _("An e-mail needs a subject."))
        return data


class CostLineForm(InputLimits, forms.ModelForm):
    class Meta:
        model = CostLine
        fields = ["spent_on", "item", "amount"]
        widgets = {"spent_on": DATE}


class CheckInForm(InputLimits, forms.Form):
    code = forms.CharField(
        label=_("Invitation code"),
        max_length=20,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "autocapitalize": "characters",
                "autofocus": True,
                "class": "form-control form-control-lg text-center fs-1",
            }
        ),
    )


class DealCampaignForm(InputLimits, forms.Form):
    campaign = forms.ModelChoiceField(
        label=_("Credited to campaign"),
        required=False,
        queryset=Campaign.objects.none(),
        empty_label=_("No campaign"),
    )

    def __init__(self, *args, deal: Opportunity, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Another project's campaign would take this deal into its return. The
        # campaign the deal is credited to stays on offer (credited before it was
        # cancelled): saving the form as it opened keeps the credit.
        self.fields["campaign"].queryset = (
            Campaign.objects.may_credit(deal.project_id)
            | Campaign.objects.filter(pk=deal.campaign_id)
        ).order_by("-starts_on", "name")
