"""Reads over customers that feed lists, the 360 page and landing pages."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, QuerySet

from crm_site.audit import audit_entries_for
from crm_site.models import AuditEntry, User
from crm_site.pagination import Page, paginate
from customers.identity import mask_id_number
from customers.models import ConsentRecord, ContactPoint, Customer, Interaction
from customers.phones import format_phone, mask_phone


def customer_list(
    *, user: User, query: str = "", stage: str = "", source: str = ""
) -> QuerySet:
    qs = Customer.objects.visible_to(user).identifiable().search(query, user=user)
    if stage:
        qs = qs.filter(stage=stage)
    if source:
        qs = qs.filter(source=source)
    return qs.select_related("assigned_consultant").ranked()


def customer_counts_by(*, user: User, field: str) -> dict[str, int]:
    """Visible customers counted per value of a choice field (stage, source)."""
    rows = (
        Customer.objects.visible_to(user)
        .order_by()
        .values(field)
        .annotate(n=Count("id"))
    )
    return {row[field]: row["n"] for row in rows}


def customer_timeline(*, customer: Customer, kind: str = "") -> QuerySet:
    qs = Interaction.objects.filter(customer=customer)
    if kind:
        qs = qs.filter(kind=kind)
    return qs.select_related("created_by", "link_type").order_by("-occurred_at", "-id")


@dataclass(frozen=True)
class ContactRow:
    point: ContactPoint
    display: str


def contact_points_for(*, customer: Customer, user: User) -> list[ContactRow]:
    """Further contacts, phone numbers masked for users who may not see them."""
    visible = customer.contact_visible_to(user)
    rows = []
    for point in customer.contact_points.order_by("kind", "id"):
        if point.kind in ContactPoint.PHONE_KINDS:
            display = format_phone(point.value) if visible else mask_phone(point.value)
        else:
            display = point.value
        rows.append(ContactRow(point, display))
    return rows


def household_of(*, customer: Customer, user: User) -> list[Customer]:
    """The other members of the customer's household that the user may see."""
    if customer.household_id is None:
        return []
    return list(
        Customer.objects.visible_to(user)
        .filter(household_id=customer.household_id)
        .exclude(pk=customer.pk)
        .order_by("name")
    )


# Audited fields shown masked to users who may not see the customer's numbers.
MASKED_FIELDS = {"mobile": mask_phone, "id_number": mask_id_number}


@dataclass(frozen=True)
class HistoryRow:
    entry: AuditEntry
    changes: list[tuple[str, str, str]]


def customer_history(*, customer: Customer, user: User, page: str | int | None) -> Page:
    """The customer's audit trail, numbers masked as everywhere else for this user."""
    # A feed read with an "Older" link: no total to show, so none is counted.
    result = paginate(audit_entries_for(customer), page=page, per_page=10, count=False)
    masked = not customer.contact_visible_to(user)
    rows = []
    for entry in result.items:
        changes = []
        for (label, old, new), name in zip(
            entry.readable_changes(), entry.changes, strict=True
        ):
            if masked and name in MASKED_FIELDS:
                mask = MASKED_FIELDS[name]
                old, new = (mask(old) if old else ""), (mask(new) if new else "")
            elif name == "mobile":
                # Stored as +8613800138000; written as people write it.
                old, new = format_phone(old), format_phone(new)
            changes.append((label, old, new))
        rows.append(HistoryRow(entry, changes))
    return Page(items=rows, number=result.number, has_next=result.has_next)


def consent_history(*, customer: Customer) -> QuerySet:
    return (
        ConsentRecord.objects.filter(customer=customer)
        .select_related("recorded_by")
        .order_by("-recorded_at", "-id")
    )
