"""Form widgets for hot pages."""

from __future__ import annotations

from django import forms
from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join


class DateInput(forms.DateInput):
    """A date picker (<input type="date">). The browser takes its value as an ISO
    date whatever the page's language; written in the language's input format
    (zh-hans: 2026/12/06) it is dropped and the field shows empty."""

    input_type = "date"

    def __init__(self, attrs=None) -> None:
        super().__init__(attrs, format="%Y-%m-%d")


class DateTimeInput(forms.DateTimeInput):
    """A date and time picker (<input type="datetime-local">), its value in the
    ISO form the browser takes (2026-12-06T09:30), in the current time zone."""

    input_type = "datetime-local"

    def __init__(self, attrs=None) -> None:
        super().__init__(attrs, format="%Y-%m-%dT%H:%M")


class FastSelect(forms.Select):
    """A single <select> rendered in Python rather than one template per option.

    A list filter can offer hundreds of options (every consultant of a large team); the
    template-based Select spends most of a list request rendering them. Same markup,
    flat choices only (no option groups).
    """

    def render(self, name, value, attrs=None, renderer=None):
        final_attrs = self.build_attrs(self.attrs, attrs)
        final_attrs["name"] = name
        selected = set(self.format_value(value))
        options = []
        for option_value, label in self.choices:
            option_value = "" if option_value is None else str(option_value)
            flag = " selected" if option_value in selected else ""
            options.append((option_value, flag, label))
            if flag:
                selected = set()  # a single select marks only the first match
        return format_html(
            "<select{}>{}</select>",
            flatatt(final_attrs),
            format_html_join("", '<option value="{}"{}>{}</option>', options),
        )
