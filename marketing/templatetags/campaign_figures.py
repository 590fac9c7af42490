"""Template filters for campaign figures."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def times(value) -> str:
    """A return ratio: 12.50×, or — when it is undefined (no cost)."""
    return "—" if value is None else f"{value}×"
