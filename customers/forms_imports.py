"""Import forms: the upload, and the mapping of the file's columns to customer fields."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from customers.services.imports import IMPORT_FIELDS


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label=_("File"),
        help_text=_(
            "A CSV file or an Excel workbook (.xlsx), at most 20 MB, with the "
            "column names in the first row."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx"}),
    )


class ImportMappingForm(forms.Form):
    """One choice per column of the file: the customer field it fills, or nothing."""

    def __init__(
        self, *args: Any, headers: list[str], mapping: dict[str, str], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        choices = [("", _("— Ignore this column —")), *IMPORT_FIELDS.items()]
        # Columns are numbered, not named, so any header text is a safe field name.
        self.columns: list[tuple[str, str]] = []
        for index, header in enumerate(headers):
            if not header:
                continue
            name = f"column_{index}"
            self.columns.append((name, header))
            self.fields[name] = forms.ChoiceField(
                label=header,
                choices=choices,
                required=False,
                initial=mapping.get(header, ""),
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        used: dict[str, str] = {}
        for name, header in self.columns:
            target = cleaned.get(name)
            if not target:
                continue
            if target in used:
                self.add_error(
                    name,
                    gettext("%(field)s is already filled from the column “%(column)s”.")
                    % {"field": IMPORT_FIELDS[target], "column": used[target]},
                )
            used[target] = header
        if "mobile" not in used:
            raise forms.ValidationError(
                gettext(
                    "Choose the column that holds the mobile number: customers are "
                    "matched by phone."
                )
            )
        return cleaned

    def mapping(self) -> dict[str, str]:
        """{column header: customer field} for the columns that are used."""
        return {
            header: self.cleaned_data[name]
            for name, header in self.columns
            if self.cleaned_data.get(name)
        }
