"""Reads over customers that feed lists and landing pages."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from crm_site.models import User
from customers.models import Customer


def customer_list(
    *, user: User, query: str = "", stage: str = "", source: str = ""
) -> QuerySet:
    qs = Customer.objects.visible_to(user).search(query)
    if stage:
        qs = qs.filter(stage=stage)
    if source:
        qs = qs.filter(source=source)
    return qs.select_related("assigned_consultant").order_by("-created_at", "-id")


def customer_counts_by(*, user: User, field: str) -> dict[str, int]:
    """Visible customers counted per value of a choice field (stage, source)."""
    rows = (
        Customer.objects.visible_to(user)
        .order_by()
        .values(field)
        .annotate(n=Count("id"))
    )
    return {row[field]: row["n"] for row in rows}
