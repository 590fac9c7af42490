"""``{% submission_token %}``: the hidden one-time token of a logging form."""

from __future__ import annotations

from django import template
from django.utils.html import format_html

from crm_site.submissions import FIELD, new_token

register = template.Library()


@register.simple_tag
def submission_token() -> str:
    return format_html('<input type="hidden" name="{}" value="{}">', FIELD, new_token())
