"""Service desk forms."""

from __future__ import annotations

from django import forms
from django.urls import reverse_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm_site.models import User
from crm_site.roles import Role
from crm_site.validation import InputLimits
from crm_site.widgets import DateTimeInput
from service.models import (
    Article,
    Category,
    Contractor,
    Department,
    ServiceRequest,
    Severity,
    WorkOrder,
)
from service.photos import PhotosField, clean_photo


class RequestForm(InputLimits, forms.Form):
    """One-stop intake (首问负责制): the caller first, found by mobile or name, then
    their unit, then the request. ``customer`` and ``unit`` are the radios the lookup
    shows; the view checks them against what the lookup found for this user."""

    mobile = forms.CharField(
        label=_("Caller's mobile or name"),
        max_length=100,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "autofocus": True,
                "placeholder": "138 0013 8000",
                # Ask the server about the caller while the number or name is typed;
                # a name typed for a new caller survives the re-render.
                "hx-get": reverse_lazy("service:caller-lookup"),
                "hx-trigger": "input changed delay:300ms",
                "hx-target": "#caller-result",
                "hx-swap": "outerHTML",
                "hx-include": "#id_name",
                "hx-sync": "this:replace",
            }
        ),
    )
    customer = forms.IntegerField(required=False, min_value=1)
    unit = forms.IntegerField(required=False, min_value=1)
    name = forms.CharField(
        label=_("Caller's name"),
        max_length=100,
        required=False,
        help_text=_("A caller not on record is registered with this name."),
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
    photos = PhotosField(label=_("Photos"), required=False)

    def clean_mobile(self) -> str:
        text = " ".join(self.cleaned_data["mobile"].split())
        if not text:
            raise forms.ValidationError(gettext("Type the caller's mobile or name."))
        return text

    def clean_description(self) -> str:
        text = self.cleaned_data["description"].strip()
        if not text:
            raise forms.ValidationError(gettext("Describe the problem."))
        return text


class AssignForm(InputLimits, forms.Form):
    # Outside contractors get work through a work order, with its own sign-off.
    department = forms.ChoiceField(
        label=_("Hand to"),
        choices=[c for c in Department.choices if c[0] != Department.CONTRACTOR],
    )
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


class ResolveForm(InputLimits, forms.Form):
    note = forms.CharField(label=_("What was done"), max_length=300)


class CallbackForm(InputLimits, forms.Form):
    satisfied = forms.TypedChoiceField(
        label=_("Is the owner satisfied?"),
        choices=[("1", _("Satisfied")), ("0", _("Not satisfied"))],
        coerce=lambda v: v == "1",
        widget=forms.RadioSelect,
    )
    note = forms.CharField(label=_("What the owner said"), max_length=300)


# Work orders, contractors, chargebacks, knowledge --------------------------------


class WorkOrderForm(InputLimits, forms.Form):
    """A work order from a request's page; the service checks the assignee fits."""

    task = forms.CharField(label=_("Task"), max_length=300)
    assignee_kind = forms.ChoiceField(
        label=_("Assign to"), choices=WorkOrder.Assignee.choices
    )
    department = forms.ChoiceField(
        label=_("Department"),
        choices=[("", "—")]
        + [c for c in Department.choices if c[0] != Department.CONTRACTOR],
        required=False,
    )
    crew = forms.CharField(label=_("Crew"), max_length=100, required=False)
    contractor = forms.ModelChoiceField(
        label=_("Contractor"),
        queryset=Contractor.objects.filter(active=True),
        required=False,
    )
    appointment_at = forms.DateTimeField(
        label=_("Appointment"),
        required=False,
        widget=DateTimeInput(),
    )
    due_at = forms.DateTimeField(
        label=_("Finish by"),
        required=False,
        help_text=_("Empty: the request's resolution deadline."),
        widget=DateTimeInput(),
    )
    cost = forms.DecimalField(
        label=_("Estimated cost (CNY)"),
        max_digits=12,
        decimal_places=2,
        min_value=0,
        required=False,
    )

    def clean(self) -> dict:
        cleaned = super().clean()
        kind = cleaned.get("assignee_kind")
        needed = {
            WorkOrder.Assignee.DEPARTMENT: "department",
            WorkOrder.Assignee.CREW: "crew",
            WorkOrder.Assignee.CONTRACTOR: "contractor",
        }.get(kind)
        if needed and not cleaned.get(needed):
            self.add_error(needed, gettext("This field is required."))
        appointment, due = cleaned.get("appointment_at"), cleaned.get("due_at")
        if appointment and due and due < appointment:
            self.add_error(
                "due_at", gettext("The work cannot be due before the appointment.")
            )
        return cleaned


class ScheduleForm(InputLimits, forms.Form):
    appointment_at = forms.DateTimeField(
        label=_("Appointment"),
        widget=DateTimeInput(),
    )


class PhotosForm(InputLimits, forms.Form):
    photos = PhotosField(label=_("Photos"))


class SignOffForm(InputLimits, forms.Form):
    note = forms.CharField(label=_("What was found on site"), max_length=300)
    photo = forms.FileField(
        label=_("Photo"),
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": "image/*"}),
    )
    cost = forms.DecimalField(
        label=_("Final cost (CNY)"),
        max_digits=12,
        decimal_places=2,
        min_value=0,
        required=False,
    )

    def clean_photo(self):
        return clean_photo(self.cleaned_data.get("photo"))


class CancelForm(InputLimits, forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=300)


class ContractorForm(InputLimits, forms.ModelForm):
    class Meta:
        model = Contractor
        fields = ["name", "trade", "contact_name", "phone", "warranty_months", "active"]


class ChargebackForm(InputLimits, forms.Form):
    work_order = forms.ModelChoiceField(
        label=_("Defective work"), queryset=WorkOrder.objects.none()
    )
    request_number = forms.IntegerField(
        label=_("Request where the defect was reported (ID)"), min_value=1
    )
    amount = forms.DecimalField(
        label=_("Amount (CNY)"), max_digits=12, decimal_places=2, min_value=0.01
    )
    reason = forms.CharField(label=_("Reason"), max_length=300)

    def __init__(self, *args, contractor: Contractor, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["work_order"].queryset = (
            contractor.work_orders.filter(status=WorkOrder.Status.DONE)
            .select_related("request")
            .order_by("-signed_off_at")
        )
        self.fields["work_order"].label_from_instance = lambda wo: (
            f"WO{wo.pk} · {wo.request.number} · {wo.task[:40]}"
        )

    def clean_request_number(self) -> ServiceRequest:
        request = ServiceRequest.objects.filter(
            pk=self.cleaned_data["request_number"]
        ).first()
        if request is None:
            raise forms.ValidationError(gettext("No request has this ID."))
        return request


class ArticleForm(InputLimits, forms.ModelForm):
    class Meta:
        model = Article
        fields = ["title", "category", "keywords", "problem", "cause", "fix"]
        widgets = {
            "problem": forms.Textarea(attrs={"rows": 3}),
            "cause": forms.Textarea(attrs={"rows": 3}),
            "fix": forms.Textarea(attrs={"rows": 4}),
        }


class ArticleSearchForm(InputLimits, forms.Form):
    q = forms.CharField(label=_("Search"), max_length=100, required=False)
    category = forms.ChoiceField(
        label=_("Category"),
        choices=[("", _("All categories")), *Category.choices],
        required=False,
    )


# The GM mailbox and the owners' portal (issue 14) -------------------------------------


class LetterAnswerForm(InputLimits, forms.Form):
    answer = forms.CharField(
        label=_("Answer to the owner"),
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 5}),
    )

    def clean_answer(self) -> str:
        text = self.cleaned_data["answer"].strip()
        if not text:
            raise forms.ValidationError(gettext("Write the answer."))
        return text


class LetterQueueForm(InputLimits, forms.Form):
    """The queue's filters; bad values fall back to the defaults."""

    view = forms.ChoiceField(
        choices=[
            ("open", _("To answer")),
            ("overdue", _("Overdue")),
            ("answered", _("Answered")),
            ("all", _("All")),
        ],
        required=False,
    )
    project = forms.IntegerField(required=False, min_value=1)
    start = forms.DateField(required=False)
    end = forms.DateField(required=False)


def _unit_choices(units) -> list[tuple[int, str]]:
    return [
        (unit.pk, f"{unit.building.project.name} {unit.building.name} {unit.number}")
        for unit in units
    ]


class PortalRequestForm(InputLimits, forms.Form):
    """An owner's repair or complaint, for one of their homes, with up to six photos
    checked as the desk's are (service.photos)."""

    unit = forms.TypedChoiceField(label=_("Your home"), coerce=int, choices=())
    kind = forms.ChoiceField(
        label=_("What is it?"),
        choices=[
            (ServiceRequest.Kind.REPAIR, _("A repair")),
            (ServiceRequest.Kind.COMPLAINT, _("A complaint")),
        ],
        widget=forms.RadioSelect,
        initial=ServiceRequest.Kind.REPAIR,
    )
    category = forms.ChoiceField(label=_("About"), choices=Category.choices)
    description = forms.CharField(
        label=_("What is the problem?"),
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    photos = PhotosField(label=_("Photos (up to 6)"), required=False, max_files=6)

    def __init__(self, *args, units=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.units = {unit.pk: unit for unit in units}
        self.fields["unit"].choices = _unit_choices(units)

    def clean_unit(self):
        unit = self.units.get(self.cleaned_data["unit"])
        if unit is None:
            raise forms.ValidationError(gettext("Choose one of your homes."))
        return unit

    def clean_description(self) -> str:
        text = self.cleaned_data["description"].strip()
        if not text:
            raise forms.ValidationError(gettext("Describe the problem."))
        return text


class PortalRejectForm(InputLimits, forms.Form):
    note = forms.CharField(
        label=_("What is still wrong?"),
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class PortalConfirmForm(InputLimits, forms.Form):
    note = forms.CharField(
        label=_("Anything to add? (optional)"), max_length=300, required=False
    )


class PortalRatingForm(InputLimits, forms.Form):
    """The closed-request survey's questions, each 1–5, and a comment."""

    comment = forms.CharField(
        label=_("Comment (optional)"),
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, questions=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.questions = list(questions)
        for question in self.questions:
            self.fields[f"q{question.pk}"] = forms.TypedChoiceField(
                label=question.text,
                choices=[(n, str(n)) for n in range(1, 6)],
                coerce=int,
                widget=forms.RadioSelect,
            )

    def scores(self) -> dict[int, int]:
        return {q.pk: self.cleaned_data[f"q{q.pk}"] for q in self.questions}


class PortalLetterForm(InputLimits, forms.Form):
    subject = forms.CharField(label=_("Subject"), max_length=200)
    body = forms.CharField(
        label=_("Your letter"),
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 6}),
    )
    unit = forms.TypedChoiceField(
        label=_("About one of your homes (optional)"),
        coerce=int,
        choices=(),
        required=False,
        empty_value=None,
    )

    def __init__(self, *args, units=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.units = {unit.pk: unit for unit in units}
        self.fields["unit"].choices = [("", "—"), *_unit_choices(units)]

    def clean_unit(self):
        pk = self.cleaned_data.get("unit")
        if pk is None:
            return None
        unit = self.units.get(pk)
        if unit is None:
            raise forms.ValidationError(gettext("Choose one of your homes."))
        return unit


class InsightFilterForm(InputLimits, forms.Form):
    """The service insight page's period and project; a bad value shows its error and
    the page falls back to the default."""

    months = forms.TypedChoiceField(
        label=_("Period"),
        coerce=int,
        required=False,
        empty_value=None,
        choices=[
            (6, _("Last 6 months")),
            (12, _("Last 12 months")),
            (24, _("Last 24 months")),
        ],
    )
    project = forms.ModelChoiceField(
        label=_("Project"),
        queryset=None,
        required=False,
        empty_label=_("All projects"),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        from sales.models import Project

        self.fields["project"].queryset = Project.objects.order_by("name")
