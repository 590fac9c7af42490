"""Customer forms: parse and normalise input; the services do the rest."""

from __future__ import annotations

from functools import cache, cached_property, partial

from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Column, Layout, Row, Submit
from django import forms
from django.core.validators import validate_email
from django.db.models import F
from django.http import QueryDict
from django.template.loader import render_to_string
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm_site.models import User
from crm_site.roles import Role
from crm_site.validation import InputLimits, clean_date_range
from crm_site.widgets import DateInput, FastSelect
from customers.identity import (
    InvalidIdNumber,
    mask_id_number,
    normalize_id_number,
    validate_resident_id,
)
from customers.models import (
    Channel,
    ConsentRecord,
    ContactPoint,
    Customer,
    Interaction,
    Tag,
)
from customers.phones import InvalidPhone, mask_phone, normalize_phone
from customers.querysets import search_text

# Each tag is looked up (and made) on its own when the form saves: as many as the
# API takes (customers.api), so a long list of one-character tags cannot cost
# hundreds of queries and rows in one request.
MAX_TAGS = 50


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


class CustomerForm(InputLimits, forms.ModelForm):
    class Meta:
        model = Customer
        fields = [
            "name",
            "kind",
            "mobile",
            "email",
            "gender",
            "company",
            "address",
            "id_type",
            "id_number",
            "source",
            "stage",
            "preferred_channel",
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

    tags_text = forms.CharField(
        label=_("Tags"),
        required=False,
        max_length=500,
        help_text=_("Separate tags with commas, e.g. 学区房, 改善型"),
    )

    def __init__(self, *args, user: User, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        if self.instance.pk:
            self.fields["tags_text"].initial = ", ".join(
                tag.name for tag in self.instance.tags.all()
            )
        self.fields["name"].widget.attrs["autofocus"] = True
        if user.has_perm("customers.assign_customer"):
            self.fields["assigned_consultant"].queryset = consultant_choices(user)
            self.fields["assigned_consultant"].label_from_instance = lambda u: (
                u.display_name
            )
        else:
            del self.fields["assigned_consultant"]
        # Numbers the page shows masked to this user are masked here too: left as
        # shown, the stored number stays; typed anew, it replaces it.
        self.masked: dict[str, str] = {}
        if self.instance.pk and not self.instance.contact_visible_to(user):
            for name, mask in (("mobile", mask_phone), ("id_number", mask_id_number)):
                if stored := getattr(self.instance, name):
                    self.masked[name] = self.initial[name] = mask(stored)
                    self.fields[name].help_text = _(
                        "Shown masked. Leave it as it is to keep the number, or "
                        "type a new one."
                    )
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
            Row(
                Column("company", css_class="col-md-6"),
                Column("address", css_class="col-md-6"),
            ),
            Row(
                Column("id_type", css_class="col-md-4"),
                Column("id_number", css_class="col-md-4"),
                Column("preferred_channel", css_class="col-md-4"),
            ),
            *(["assigned_consultant"] if "assigned_consultant" in self.fields else []),
            "tags_text",
            "notes",
            HTML("{% load submit_once %}{% submission_token %}"),
            Submit("save", _("Save")),
        )

    def clean_name(self) -> str:
        name = " ".join(self.cleaned_data["name"].split())
        if not name:
            raise forms.ValidationError(gettext("Enter the customer's name."))
        return name

    def _kept(self, name: str) -> bool:
        """The field was sent back masked, as shown: the stored number stays."""
        sent = "".join(str(self.cleaned_data.get(name) or "").split())
        return name in self.masked and sent.upper() == self.masked[name].upper()

    def clean_mobile(self) -> str:
        if self._kept("mobile"):
            return self.instance.mobile
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

    def clean_tags_text(self) -> list[str]:
        names = [
            " ".join(part.split())
            for part in self.cleaned_data["tags_text"].replace("，", ",").split(",")
        ]
        names = list(dict.fromkeys(name for name in names if name))
        if len(names) > MAX_TAGS:
            raise forms.ValidationError(
                gettext("At most %(count)s tags.") % {"count": MAX_TAGS}
            )
        if any(len(name) > 50 for name in names):
            raise forms.ValidationError(gettext("A tag has at most 50 characters."))
        return names

    def clean(self) -> dict:
        cleaned = super().clean()
        id_type = cleaned.get("id_type")
        kept = self._kept("id_number")
        number = (
            self.instance.id_number
            if kept
            else normalize_id_number(cleaned.get("id_number", ""))
        )
        if number and not id_type:
            self.add_error("id_type", gettext("Choose the type of the document."))
        elif (
            id_type == Customer.IdType.RESIDENT_ID
            and number
            and not (kept and id_type == self.instance.id_type)
        ):
            try:
                validate_resident_id(number)
            except InvalidIdNumber as exc:
                self.add_error("id_number", str(exc))
        cleaned["id_number"] = number
        return cleaned

    def changed_values(self) -> dict:
        values = {
            name: self.cleaned_data[name] for name in self.fields if name != "tags_text"
        }
        values["tags"] = [
            Tag.objects.get_or_create(name=name)[0]
            for name in self.cleaned_data["tags_text"]
        ]
        return values


class InteractionForm(InputLimits, forms.Form):
    """The quick-log form on the customer page."""

    kind = forms.ChoiceField(
        label=_("Kind"),
        choices=[
            (value, label)
            for value, label in Interaction.Kind.choices
            if value
            not in {
                Interaction.Kind.SYSTEM,
                Interaction.Kind.COMPLAINT,
                Interaction.Kind.SURVEY,
            }
        ],
    )
    summary = forms.CharField(
        label=_("Summary"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )
    next_follow_up = forms.DateField(
        label=_("Next follow-up"),
        required=False,
        widget=DateInput(),
    )

    CHANNELS = {
        Interaction.Kind.VISIT: Channel.FACE_TO_FACE,
        Interaction.Kind.CALL_IN: Channel.PHONE,
        Interaction.Kind.CALL_OUT: Channel.PHONE,
        Interaction.Kind.WECHAT: Channel.WECHAT,
        Interaction.Kind.EMAIL: Channel.EMAIL,
        Interaction.Kind.SMS: Channel.SMS,
        Interaction.Kind.EVENT: Channel.FACE_TO_FACE,
    }

    def clean_summary(self) -> str:
        summary = self.cleaned_data["summary"].strip()
        if not summary:
            raise forms.ValidationError(gettext("Write what happened."))
        return summary

    @cached_property
    def quick_fields(self) -> str:
        """The fields of a quick-log row, rendered once per form: My day shows one row
        per customer, all from the same blank form (rendering the fields in each row
        cost half of the page)."""
        return render_to_string("customers/_quick_log_fields.html", {"log_form": self})

    @cached_property
    def kind_options(self) -> str:
        """The <option>s of the kind select."""
        chosen = str(self["kind"].value() or Interaction.Kind.CALL_OUT)
        return format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            (
                (value, " selected" if str(value) == chosen else "", label)
                for value, label in self.fields["kind"].choices
            ),
        )

    def clean_next_follow_up(self):
        value = self.cleaned_data["next_follow_up"]
        if value is not None and value < timezone.localdate():
            raise forms.ValidationError(
                gettext("The next follow-up cannot be in the past.")
            )
        return value

    @property
    def channel(self) -> str:
        return self.CHANNELS.get(self.cleaned_data["kind"], "")


class ContactPointForm(InputLimits, forms.Form):
    kind = forms.ChoiceField(label=_("Type"), choices=ContactPoint.Kind.choices)
    value = forms.CharField(label=_("Value"), max_length=200)
    label = forms.CharField(
        label=_("Label"), max_length=50, required=False, help_text=_("e.g. 配偶, 公司")
    )

    def clean(self) -> dict:
        cleaned = super().clean()
        kind, value = cleaned.get("kind"), (cleaned.get("value") or "").strip()
        if not kind or not value:
            return cleaned
        if kind in ContactPoint.PHONE_KINDS:
            try:
                value = normalize_phone(
                    value, mobile_only=kind == ContactPoint.Kind.MOBILE
                )
            except InvalidPhone as exc:
                self.add_error("value", str(exc))
        elif kind == ContactPoint.Kind.EMAIL:
            try:
                validate_email(value)
            except forms.ValidationError:
                self.add_error("value", gettext("Enter a valid e-mail address."))
            value = value.lower()
        cleaned["value"] = value
        return cleaned


class ConsentForm(InputLimits, forms.Form):
    purpose = forms.ChoiceField(
        label=_("Purpose"), choices=ConsentRecord.Purpose.choices
    )
    granted = forms.TypedChoiceField(
        label=_("Decision"),
        choices=[("1", _("Given")), ("0", _("Withdrawn"))],
        coerce=lambda v: v == "1",
    )
    method = forms.ChoiceField(
        label=_("How"),
        choices=[
            (v, label)
            for v, label in ConsentRecord.Method.choices
            if v != ConsentRecord.Method.IMPORT
        ],
    )
    note = forms.CharField(label=_("Note"), max_length=200, required=False)


def editable_customer_with_mobile(user: User, mobile: str) -> Customer:
    """The customer ``user`` may change whose mobile is ``mobile`` (normalised), for
    a form that acts on them (a unit held, a deal renamed, a co-buyer linked);
    ValidationError otherwise. A customer the user only sees (the public pool's, say)
    must be claimed first: acting on them by their number would pass the claim's
    rules (the daily cap, protection)."""
    editable = Customer.objects.editable_by(user, one=True).filter(mobile=mobile)
    customer = editable.first()
    if customer is not None:
        return customer
    if Customer.objects.visible_to(user, one=True).filter(mobile=mobile).exists():
        raise forms.ValidationError(
            gettext(
                "This customer is not yours to change. A customer of the public "
                "pool must be claimed first."
            )
        )
    raise forms.ValidationError(
        gettext("No customer you can see has this mobile number.")
    )


class HouseholdLinkForm(InputLimits, forms.Form):
    """Link a co-buyer, found by the phone number the user types."""

    phone = forms.CharField(label=_("Co-buyer's mobile"), max_length=30)
    role = forms.ChoiceField(
        label=_("Their role"), choices=Customer.HouseholdRole.choices
    )

    def __init__(self, *args, customer: Customer, user: User, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.customer = customer
        self.user = user

    def clean_phone(self) -> Customer:
        try:
            mobile = normalize_phone(self.cleaned_data["phone"])
        except InvalidPhone as exc:
            raise forms.ValidationError(str(exc)) from exc
        # Linking changes the other customer too (their household and role).
        other = editable_customer_with_mobile(self.user, mobile)
        if other.pk == self.customer.pk:
            raise forms.ValidationError(gettext("This is the customer's own number."))
        return other


def _consultant_filter_choices(user: User) -> list[tuple[str, str]]:
    choices = [("", _("Any consultant")), ("pool", _("Public pool"))]
    if user.has_perm("customers.scope_all") or user.has_perm("customers.scope_team"):
        return choices + [(str(u.pk), u.display_name) for u in consultant_choices(user)]
    return [*choices, ("me", _("My customers"))]


class CustomerFilterForm(InputLimits, forms.Form):
    """The filters of the customer list; every field is optional."""

    SORTS = {
        "-created": ("-created_at", "-id"),
        "name": ("name", "id"),
        "-last_contact": (F("last_contact_at").desc(nulls_last=True), "-id"),
        "follow_up": (F("next_follow_up").asc(nulls_last=True), "-id"),
    }

    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    stage = forms.ChoiceField(label=_("Stage"), required=False, widget=FastSelect)
    source = forms.ChoiceField(
        label=_("Source channel"), required=False, widget=FastSelect
    )
    consultant = forms.TypedChoiceField(
        label=_("Consultant"), required=False, coerce=str, widget=FastSelect
    )
    tag = forms.ModelChoiceField(
        label=_("Tag"),
        required=False,
        queryset=Tag.objects.all(),
        widget=FastSelect,
        empty_label=_("Any tag"),
    )
    contact_after = forms.DateField(
        label=_("Last contact after"),
        required=False,
        widget=DateInput(),
    )
    contact_before = forms.DateField(
        label=_("Last contact before"),
        required=False,
        widget=DateInput(),
    )
    follow_up = forms.ChoiceField(
        label=_("Follow-up"),
        required=False,
        widget=FastSelect,
        choices=[
            ("", _("Any")),
            ("due", _("Due today or overdue")),
            ("overdue", _("Overdue")),
            ("scheduled", _("Scheduled")),
        ],
    )
    sort = forms.ChoiceField(
        label=_("Sort by"),
        required=False,
        widget=FastSelect,
        # The default is blank: a search's best matches first (the exact name, then
        # names starting with the text), otherwise the newest. A value here would be
        # sent by every search from the box (the form is included), which then lost
        # its ranking and the list's fast reading (views.customers.customer_list).
        choices=[
            ("", _("Default order")),
            ("-created", _("Newest first")),
            ("name", _("Name")),
            ("-last_contact", _("Latest contact")),
            ("follow_up", _("Next follow-up")),
        ],
    )

    def __init__(self, *args, user: User, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["stage"].choices = [("", _("All stages")), *Customer.Stage.choices]
        self.fields["source"].choices = [
            ("", _("All sources")),
            *Customer.Source.choices,
        ]
        # Callable, so the consultants are read only when the select is rendered or a
        # consultant is chosen (not for every keystroke of the live search).
        self.fields["consultant"].choices = cache(
            partial(_consultant_filter_choices, user)
        )
        # Rendered by hand on the list page (crispy costs too much on a hot page).
        for field in self.fields.values():
            css = (
                "form-select"
                if isinstance(field.widget, forms.Select)
                else "form-control"
            )
            field.widget.attrs.setdefault("class", css)

    def clean(self) -> dict:
        cleaned = super().clean()
        clean_date_range(self, "contact_after", "contact_before")
        return cleaned

    @classmethod
    def search_alone(cls, data: QueryDict) -> str:
        """The text searched for by a request that asks for a search and nothing
        else ("" when it searches for nothing or its text is invalid, as
        ``searches()`` says), cleaned by the form's own field without building the
        form: its nine fields copied and bounded cost ~0.6 ms on the hot page."""
        try:
            text = cls.base_fields["q"].clean(data.get("q", ""))
        except forms.ValidationError:
            return ""
        return search_text(text)

    def searches(self) -> bool:
        """Whether filter() narrows the list by a search text (to a few ids)."""
        self.is_valid()
        return "q" not in self.errors and bool(
            search_text(self.cleaned_data.get("q") or "")
        )

    def filter(self, qs):
        """Apply the valid filters; invalid values are ignored (and shown as errors)."""
        self.is_valid()
        data = {k: v for k, v in self.cleaned_data.items() if k not in self.errors}
        today = timezone.localdate()
        if data.get("stage"):
            qs = qs.filter(stage=data["stage"])
        if data.get("source"):
            qs = qs.filter(source=data["source"])
        consultant = data.get("consultant")
        if consultant == "pool":
            qs = qs.filter(assigned_consultant__isnull=True)
        elif consultant == "me":
            qs = qs.filter(assigned_consultant=self.user)
        elif consultant:
            qs = qs.filter(assigned_consultant_id=int(consultant))
        if data.get("tag"):
            qs = qs.filter(tags=data["tag"])
        if data.get("contact_after"):
            qs = qs.filter(last_contact_at__date__gte=data["contact_after"])
        if data.get("contact_before"):
            qs = qs.filter(last_contact_at__date__lt=data["contact_before"])
        follow_up = data.get("follow_up")
        if follow_up == "due":
            qs = qs.filter(next_follow_up__lte=today)
        elif follow_up == "overdue":
            qs = qs.filter(next_follow_up__lt=today)
        elif follow_up == "scheduled":
            qs = qs.filter(next_follow_up__isnull=False)
        if data.get("q"):
            qs = qs.search(data["q"], user=self.user)
        sort = data.get("sort")
        if sort in self.SORTS:
            return qs.order_by(*self.SORTS[sort])
        return qs.ranked()


class SavedFilterForm(InputLimits, forms.Form):
    name = forms.CharField(label=_("Name of this filter"), max_length=60)


class RegistrationForm(InputLimits, forms.Form):
    """来访 / 来电登记: the phone first, then a name, what happened, the next step."""

    mobile = forms.CharField(
        label=_("Mobile"),
        max_length=30,
        widget=forms.TextInput(
            attrs={
                "inputmode": "tel",
                "autocomplete": "off",
                "autofocus": True,
                "placeholder": "138 0013 8000",
                # Ask the server about the number while it is typed.
                "hx-get": reverse_lazy("customers:phone-lookup"),
                "hx-trigger": "input changed delay:250ms",
                "hx-target": "#lookup-result",
                "hx-swap": "outerHTML",
                # The hint says whose number it is, or why it is not a mobile number;
                # editing the number clears a refusal of the old one (behaviours.js).
                "aria-describedby": "lookup-result",
                "data-checked-live": True,
            }
        ),
    )
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        required=False,
        help_text=_("Needed for a new customer only."),
    )
    kind = forms.ChoiceField(
        label=_("Kind"),
        choices=[
            (Interaction.Kind.VISIT, _("Walk-in visit")),
            (Interaction.Kind.CALL_IN, _("Incoming call")),
        ],
        widget=forms.RadioSelect,
        initial=Interaction.Kind.VISIT,
    )
    source = forms.ChoiceField(
        label=_("Source channel"),
        choices=Customer.Source.choices,
        initial=Customer.Source.WALK_IN,
    )
    summary = forms.CharField(label=_("Summary"), max_length=2000, required=False)
    next_follow_up = forms.DateField(
        label=_("Next follow-up"),
        required=False,
        widget=DateInput(),
    )

    def clean_mobile(self) -> str:
        try:
            return normalize_phone(self.cleaned_data["mobile"], mobile_only=True)
        except InvalidPhone as exc:
            raise forms.ValidationError(str(exc)) from exc

    def clean_next_follow_up(self):
        value = self.cleaned_data["next_follow_up"]
        if value is not None and value < timezone.localdate():
            raise forms.ValidationError(
                gettext("The next follow-up cannot be in the past.")
            )
        return value


class ValueFilterForm(InputLimits, forms.Form):
    """The top customers list's filters: a value tier and a project (of the first
    contract). Unknown values are refused next to the field."""

    tier = forms.TypedChoiceField(
        label=_("Value tier"), required=False, coerce=int, empty_value=None
    )
    project = forms.TypedChoiceField(
        label=_("First contracted project"),
        required=False,
        coerce=int,
        empty_value=None,
    )

    def __init__(self, *args, **kwargs) -> None:
        from customers import value
        from customers.models import ValueTier

        super().__init__(*args, **kwargs)
        self.fields["tier"].choices = [
            ("", _("Any tier")),
            *ValueTier.objects.values_list("pk", "name"),
        ]
        self.fields["project"].choices = [
            ("", _("Any project")),
            *value.project_choices(),
        ]
