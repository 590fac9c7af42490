"""Filters of the win/loss, time-in-stage and cohort pages (sales.views_insight)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from django import forms
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm_site.validation import EARLIEST_DATE, LATEST_DATE, InputLimits
from sales.insight_figures import COHORT_EVENTS, add_months
from sales.models import Project
from sales.services.sessions import projects_visible_to

if TYPE_CHECKING:
    from crm_site.models import User

MAX_MONTHS = 36


class MonthInput(forms.DateInput):
    input_type = "month"

    def __init__(self, **kwargs) -> None:
        super().__init__(format="%Y-%m", **kwargs)


class MonthField(forms.DateField):
    """A month as YYYY-MM (the browser's month picker), cleaned to its first day."""

    widget = MonthInput
    input_formats = ["%Y-%m"]
    default_error_messages = {"invalid": _("Enter a month as YYYY-MM.")}

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        # Before InputLimits adds the date bounds, which a month picker cannot read.
        self.widget.attrs["min"] = EARLIEST_DATE.strftime("%Y-%m")
        self.widget.attrs["max"] = LATEST_DATE.strftime("%Y-%m")


class InsightFilterForm(InputLimits, forms.Form):
    """A period of whole months and a project. Invalid values fall back to the
    default period and the page shows the error next to the field."""

    start = MonthField(label=_("From month"), required=False)
    end = MonthField(label=_("To month"), required=False)
    project = forms.ModelChoiceField(
        label=_("Project"),
        queryset=Project.objects.order_by("name"),
        required=False,
        empty_label=_("All projects"),
    )

    def __init__(
        self, *args, default_months: int = 6, user: User | None = None, **kwargs
    ) -> None:
        super().__init__(*args, **kwargs)
        self.default_months = default_months
        if user is not None:
            # Only a project the user's team sells, as the sales dashboard offers.
            self.fields["project"].queryset = projects_visible_to(user).order_by("name")

    def clean(self) -> dict:
        cleaned = super().clean()
        this_month = timezone.localdate().replace(day=1)
        end: date = (cleaned.get("end") or this_month).replace(day=1)
        start: date = (
            cleaned.get("start") or add_months(end, 1 - self.default_months)
        ).replace(day=1)
        if start > end:
            self.add_error("start", gettext("The start is after the end."))
            start = end
        span = (end.year - start.year) * 12 + end.month - start.month + 1
        if span > MAX_MONTHS:
            self.add_error(
                "start",
                gettext("Choose at most %(months)s months.") % {"months": MAX_MONTHS},
            )
            start = add_months(end, 1 - MAX_MONTHS)
        cleaned["start"], cleaned["end"] = start, end
        return cleaned

    def values(self) -> dict:
        """The cleaned filters; the defaults where the input was invalid."""
        self.is_valid()
        data = self.cleaned_data
        # The month pickers show the period in force, the defaults included.
        shown = self.data.copy()
        for name in ("start", "end"):
            if name not in self.errors:
                shown[name] = data[name].strftime("%Y-%m")
        self.data = shown
        project = data.get("project")
        return {
            "start": data["start"],
            "end": data["end"],
            "project_id": project.pk if project else None,
        }


class CohortFilterForm(InsightFilterForm):
    event = forms.ChoiceField(
        label=_("Converted when"),
        choices=[(key, label) for key, (_column, label) in COHORT_EVENTS.items()],
        required=False,
    )

    def clean_event(self) -> str:
        return self.cleaned_data.get("event") or "subscribed"

    def values(self) -> dict:
        out = super().values()
        out["event"] = self.cleaned_data.get("event") or "subscribed"
        return out
