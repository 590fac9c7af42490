"""Who owns a customer: the primary consultant and further owners. Other apps decide
ownership by their own rules (sales: protected registrations) and record it here."""

from __future__ import annotations

from django.db import transaction

from crm_site.audit import audited_update
from crm_site.models import User
from customers.models import Customer, CustomerAccess
from customers.services.records import customer_update


@transaction.atomic
def customer_access_grant(*, customer: Customer, user: User, reason: str = "") -> None:
    CustomerAccess.objects.get_or_create(
        customer=customer, user=user, defaults={"reason": reason}
    )


@transaction.atomic
def customer_access_revoke(*, customer: Customer, user: User) -> None:
    CustomerAccess.objects.filter(customer=customer, user=user).delete()


@transaction.atomic
def customer_owner_set(
    *, actor: User | None, customer: Customer, owner: User | None
) -> Customer:
    """Set the primary consultant; None puts the customer in the public pool."""
    if customer.assigned_consultant_id == (owner.pk if owner else None):
        return customer
    return customer_update(actor=actor, customer=customer, assigned_consultant=owner)


def customers_to_pool(*, customer_ids: list[int], when) -> int:
    """Many customers back to the public pool at once, each change in the audit trail."""
    if not customer_ids:
        return 0
    return audited_update(
        Customer.objects.filter(pk__in=customer_ids, assigned_consultant__isnull=False),
        actor=None,
        when=when,
        assigned_consultant=None,
        updated_at=when,
    )
