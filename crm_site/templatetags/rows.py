"""{% rows "customers/_list_rows.jinja" rows [name=value ...] %}: print a page's rows
with a Jinja2 row template (crm_site.jinja says why and what such a template may do).
The template sees the items as ``rows`` and the named arguments by name."""

from __future__ import annotations

from typing import Any

from django import template
from django.template import engines
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.simple_tag
def rows(template_name: str, items: Any, **extra: Any) -> SafeString:
    row_template = engines["jinja2"].get_template(template_name)
    # Jinja2 escapes every value it prints (autoescape), so its output is safe HTML.
    return mark_safe(row_template.render({"rows": items, **extra}))
