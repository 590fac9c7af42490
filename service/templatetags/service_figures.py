"""Rates in service templates."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def rate(value) -> str:
    """A 0–1 ratio as a percentage with one decimal; "—" when there is nothing to rate."""
    if value is None:
        return "—"
    return f"{100 * float(value):.1f}%"


@register.filter
def bar_width(value) -> str:
    """A 0–100 figure as a CSS width (clamped), for the HTML bars."""
    try:
        number = max(0.0, min(100.0, float(value)))
    except (TypeError, ValueError):
        number = 0.0
    return f"{number:.1f}%"
