"""Forms of the selection-session screens: parse and normalise; the services in
sales.services.sessions check the rules."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from crm_site.validation import InputLimits
from crm_site.widgets import DateTimeInput
from sales.models import Building, Project, SelectionSession, Unit
from sales.services.sessions import RULE_FIELDS, CloseChoice


def parse_floors(text: str) -> list[int]:
    """ "3-10, 12" → [3, 4, …, 10, 12] (full-width commas and dashes too)."""
    floors: set[int] = set()
    normalised = text.replace("，", ",").replace("－", "-").replace("～", "-")
    for part in (p.strip() for p in normalised.split(",")):
        if not part:
            continue
        low, dash, high = part.partition("-")
        try:
            first = int(low)
            last = int(high) if dash else first
        except ValueError:
            raise forms.ValidationError(
                _("Write floors as numbers and ranges, e.g. 3-10, 12.")
            ) from None
        if first > last or first < -5 or last > 200:
            raise forms.ValidationError(
                _("%(part)s is not a range of floors.") % {"part": part}
            )
        floors.update(range(first, last + 1))
    return sorted(floors)


def format_floors(floors: list[int]) -> str:
    """[3, 4, 5, 7] → "3-5, 7" (what parse_floors reads back)."""
    parts: list[str] = []
    start = previous = None
    for floor in [*floors, None]:
        if start is not None and (floor is None or floor != previous + 1):
            parts.append(str(start) if start == previous else f"{start}-{previous}")
            start = None
        if floor is not None and start is None:
            start = floor
        previous = floor
    return ", ".join(parts)


class SessionForm(InputLimits, forms.ModelForm):
    """A session's rules and the units it offers (by building, then optionally by
    floor and layout)."""

    buildings = forms.ModelMultipleChoiceField(
        label=_("Buildings"),
        queryset=Building.objects.none(),
        widget=forms.CheckboxSelectMultiple,
    )
    floors = forms.CharField(
        label=_("Floors"),
        required=False,
        max_length=200,
        help_text=_("Empty: every floor. E.g. 3-10, 12."),
    )
    layouts = forms.MultipleChoiceField(
        label=_("Layouts"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every layout."),
    )

    class Meta:
        model = SelectionSession
        # What the form changes is what the audit trail records (sessions.py).
        fields = RULE_FIELDS
        widgets = {"starts_at": DateTimeInput()}

    def __init__(self, *args, project: Project, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.project = project
        self.fields["buildings"].queryset = Building.objects.filter(
            project=project
        ).order_by("name")
        layouts = (
            Unit.objects.filter(building__project=project)
            .exclude(layout="")
            .values_list("layout", flat=True)
            .distinct()
            .order_by("layout")
        )
        self.fields["layouts"].choices = [(v, v) for v in layouts]
        self.fields["starts_at"].input_formats = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]
        if self.instance.pk and not self.is_bound:
            # What the session offers now, as the form would choose it again.
            units = Unit.objects.filter(
                pk__in=self.instance.session_units.values("unit_id")
            )
            building_ids = list(units.values_list("building_id", flat=True).distinct())
            self.initial["buildings"] = building_ids
            # Floors and layouts only when the session offers fewer than all of
            # its buildings': saving the form unchanged keeps the same units.
            everything = Unit.objects.filter(building_id__in=building_ids)
            floors = sorted(set(units.values_list("floor", flat=True)))
            if floors != sorted(set(everything.values_list("floor", flat=True))):
                self.initial["floors"] = format_floors(floors)
            layouts = sorted(set(units.values_list("layout", flat=True)) - {""})
            if layouts != sorted(
                set(everything.values_list("layout", flat=True)) - {""}
            ):
                self.initial["layouts"] = layouts

    def clean_floors(self) -> list[int]:
        return parse_floors(self.cleaned_data.get("floors") or "")


class CallForm(InputLimits, forms.Form):
    """Call a given number to the desk (empty: the next one)."""

    position = forms.IntegerField(label=_("Number"), min_value=1, required=False)


class SelectForm(InputLimits, forms.Form):
    entry = forms.IntegerField(min_value=1)
    unit = forms.IntegerField(min_value=1)


class CloseForm(InputLimits, forms.Form):
    deposits = forms.ChoiceField(
        label=_("Unused deposits"),
        choices=[
            (CloseChoice.REFUND, _("Queue a refund of each (a manager approves it)")),
            (CloseChoice.MOVE, _("Move them to the next session")),
        ],
        widget=forms.RadioSelect,
    )
    next_session = forms.ModelChoiceField(
        label=_("Next session"),
        queryset=SelectionSession.objects.none(),
        required=False,
        help_text=_("A session of the project still being prepared."),
    )

    def __init__(self, *args, session: SelectionSession, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["next_session"].queryset = SelectionSession.objects.filter(
            project_id=session.project_id, status=SelectionSession.Status.DRAFT
        ).exclude(pk=session.pk)

    def clean(self) -> dict:
        data = super().clean()
        if data.get("deposits") == CloseChoice.MOVE and not data.get("next_session"):
            self.add_error(
                "next_session", _("Choose the session the deposits move to.")
            )
        return data
