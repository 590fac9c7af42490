"""Form widgets for hot pages."""

from __future__ import annotations

from django import forms
from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join


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
