"""{% url_id "customers:interaction-create" customer.pk as log_url %}: {% url %} for a
URL whose only argument is an id, in list rows (crm_site.reversing)."""

from __future__ import annotations

from django import template

from crm_site.reversing import reverse_id

register = template.Library()


@register.simple_tag
def url_id(url_name: str, pk: int) -> str:
    return reverse_id(url_name, pk)
