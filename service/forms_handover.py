"""Forms of the handover screens and the owners' survey."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm_site.validation import InputLimits
from crm_site.widgets import DateInput
from sales.models import Building
from service.models import Category, HandoverSlot, InspectionItem, SurveyQuestion
from service.photos import clean_photo

DATE = DateInput()
TIME = forms.TimeInput(attrs={"type": "time"}, format="%H:%M")


class BatchForm(InputLimits, forms.Form):
    building = forms.ModelChoiceField(
        label=_("Building"),
        queryset=Building.objects.select_related("project").order_by(
            "project__name", "name"
        ),
    )
    name = forms.CharField(label=_("Name"), max_length=100)
    starts_on = forms.DateField(label=_("First day"), widget=DATE)
    ends_on = forms.DateField(label=_("Last day"), widget=DATE)

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("starts_on"), data.get("ends_on")
        if start and end and end < start:
            self.add_error("ends_on", gettext("The last day is before the first."))
        return data


class SlotForm(InputLimits, forms.Form):
    day = forms.DateField(label=_("Day"), widget=DATE)
    starts_at = forms.TimeField(label=_("Starts at"), widget=TIME)
    ends_at = forms.TimeField(label=_("Ends at"), widget=TIME)
    capacity = forms.IntegerField(
        label=_("Units in the slot"), min_value=1, max_value=500
    )


class ChecklistRowForm(InputLimits, forms.Form):
    room = forms.CharField(label=_("Room"), max_length=50)
    item = forms.CharField(label=_("What is checked"), max_length=100)
    # An initial value, so an untouched empty row (its select still says construction)
    # counts as unchanged and is skipped.
    category = forms.ChoiceField(
        label=_("Category"), choices=Category.choices, initial=Category.CONSTRUCTION
    )


# absolute_max: a POST claiming more rows (a forged TOTAL_FORMS) is refused before
# a form is built for each of them.
ChecklistFormSet = forms.formset_factory(
    ChecklistRowForm,
    extra=3,
    can_delete=True,
    max_num=60,
    absolute_max=60,
    validate_max=True,
)


class BookForm(InputLimits, forms.Form):
    slot = forms.ModelChoiceField(label=_("Slot"), queryset=HandoverSlot.objects.none())

    def __init__(self, *args, slots: list[HandoverSlot], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["slot"]
        field.queryset = HandoverSlot.objects.filter(pk__in=[s.pk for s in slots])
        # Labels from the already loaded slots, with their room left.
        field.choices = [("", "---------")] + [
            (
                s.pk,
                gettext("%(slot)s (%(free)s free)")
                % {"slot": s, "free": max(s.capacity - s.booked, 0)},
            )
            for s in slots
        ]


class OwnerBookForm(InputLimits, forms.Form):
    """The owner's choice among the slots still open to them (large radio buttons)."""

    slot = forms.ModelChoiceField(
        label=_("Choose a time"),
        queryset=HandoverSlot.objects.none(),
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose a time.")},
    )

    def __init__(self, *args, slots: list[HandoverSlot], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["slot"].queryset = HandoverSlot.objects.filter(
            pk__in=[s.pk for s in slots]
        )


class InspectionItemForm(InputLimits, forms.ModelForm):
    class Meta:
        model = InspectionItem
        fields = ["result", "category", "note", "photo"]
        widgets = {
            "result": forms.RadioSelect,
            "category": forms.Select(
                attrs={
                    "class": "form-select form-select-sm",
                    "aria-label": _("Category"),
                }
            ),
            "note": forms.TextInput(attrs={"placeholder": _("What is wrong")}),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # A defect that became a repair request is settled here; the request goes on.
        if self.instance.repair_request_id:
            for field in self.fields.values():
                field.disabled = True

    def clean_photo(self):
        return clean_photo(self.cleaned_data.get("photo"))

    def clean(self) -> dict:
        data = super().clean()
        if (
            data.get("result") == InspectionItem.Result.DEFECT
            and not (data.get("note") or "").strip()
        ):
            self.add_error("note", gettext("Describe the defect."))
        return data


class BaseInspectionFormSet(forms.BaseModelFormSet):
    """The inspection's own items, no more: a POST claiming more rows (a forged
    TOTAL_FORMS, up to Django's 2,000) is refused before a form is built and
    rendered for each of them."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.max_num = self.absolute_max = len(self.get_queryset())
        self.validate_max = True


InspectionFormSet = forms.modelformset_factory(
    InspectionItem,
    form=InspectionItemForm,
    formset=BaseInspectionFormSet,
    extra=0,
    edit_only=True,
)

SCALE = [(n, str(n)) for n in range(5, 0, -1)]


class SurveyForm(InputLimits, forms.Form):
    """One 1–5 radio row per question and a free comment."""

    comment = forms.CharField(
        label=_("Anything else you would like to tell us?"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, questions: list[SurveyQuestion], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.questions = questions
        for question in questions:
            self.fields[f"q{question.pk}"] = forms.TypedChoiceField(
                label=question.text,
                choices=SCALE,
                coerce=int,
                widget=forms.RadioSelect,
                error_messages={"required": _("Choose a score.")},
            )
        self.order_fields([*(f"q{q.pk}" for q in questions), "comment"])

    def scores(self) -> dict[int, int]:
        return {q.pk: self.cleaned_data[f"q{q.pk}"] for q in self.questions}

    def question_fields(self) -> list:
        return [self[f"q{q.pk}"] for q in self.questions]
