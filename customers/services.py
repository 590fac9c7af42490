"""Use cases that change customers. Other apps change customer data only through here."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from crm_site.audit import audit_record, diff, snapshot
from crm_site.models import AuditEntry, User
from customers.models import Customer

# Fields whose changes the audit trail records.
AUDITED_FIELDS = [
    "name",
    "kind",
    "mobile",
    "email",
    "gender",
    "source",
    "stage",
    "assigned_consultant",
    "notes",
]


class DuplicateCustomer(Exception):
    """The mobile number already belongs to another customer."""

    def __init__(self, existing: Customer) -> None:
        super().__init__(f"mobile already belongs to customer {existing.pk}")
        self.existing = existing


def _existing_with_mobile(
    mobile: str, *, exclude_pk: int | None = None
) -> Customer | None:
    qs = Customer.objects.filter(mobile=mobile)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs.select_related("assigned_consultant").first()


def _save_unique(customer: Customer) -> None:
    # The form checks for a twin first; the unique index settles a race between two desks.
    try:
        with transaction.atomic():
            customer.save()
    except IntegrityError:
        existing = _existing_with_mobile(customer.mobile, exclude_pk=customer.pk)
        if existing is None:
            raise
        raise DuplicateCustomer(existing) from None


@transaction.atomic
def customer_create(*, actor: User, **fields: Any) -> Customer:
    """Register a new customer; a consultant who registers one owns it."""
    customer = Customer(created_by=actor, **fields)
    if customer.assigned_consultant_id is None and actor.has_perm(
        "customers.scope_own"
    ):
        customer.assigned_consultant = actor
    existing = _existing_with_mobile(customer.mobile)
    if existing is not None:
        raise DuplicateCustomer(existing)
    _save_unique(customer)
    audit_record(
        actor=actor,
        instance=customer,
        action=AuditEntry.Action.CREATE,
        changes=diff(customer, dict.fromkeys(AUDITED_FIELDS, "")),
    )
    return customer


@transaction.atomic
def customer_update(*, actor: User, customer: Customer, **fields: Any) -> Customer:
    """Change a customer's fields and record what changed; a no-op change records nothing."""
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    before = snapshot(locked, AUDITED_FIELDS)
    for name, value in fields.items():
        setattr(locked, name, value)
    changes = diff(locked, before)
    if not changes:
        return locked
    if "mobile" in changes:
        existing = _existing_with_mobile(locked.mobile, exclude_pk=locked.pk)
        if existing is not None:
            raise DuplicateCustomer(existing)
    _save_unique(locked)
    audit_record(
        actor=actor, instance=locked, action=AuditEntry.Action.UPDATE, changes=changes
    )
    return locked
