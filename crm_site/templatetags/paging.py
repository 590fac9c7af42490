"""``{% query_as_hidden_inputs filter_query %}``: a list's filters, carried by a GET form."""

from __future__ import annotations

from django import template
from django.http import QueryDict
from django.utils.html import format_html_join
from django.utils.safestring import SafeString

register = template.Library()


@register.simple_tag
def query_as_hidden_inputs(query: str | None, skip: str = "page") -> SafeString:
    """Hidden inputs for every parameter of ``query`` but ``skip``, so that a form
    that submits ``skip`` keeps the list's filters."""
    pairs = [
        (key, value)
        for key, values in QueryDict(query or "").lists()
        if key != skip
        for value in values
    ]
    if not pairs:
        return SafeString("")
    return format_html_join("", '<input type="hidden" name="{}" value="{}">', pairs)


@register.filter
def grouped(value: int | None) -> str:
    """A count with digits grouped in threes in every language (300,000), as the
    money filters print amounts: the Chinese locale groups nothing."""
    if value is None:
        return ""
    return f"{int(value):,}"
