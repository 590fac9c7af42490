"""Who owns a customer: the primary consultant and further owners. Other apps decide
ownership by their own rules (sales: protected registrations) and record it here."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from crm_site.models import AuditEntry, User
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
    owned = list(
        Customer.objects.filter(pk__in=customer_ids, assigned_consultant__isnull=False)
        .select_related("assigned_consultant")
        .only("pk", "name", "assigned_consultant")
    )
    if not owned:
        return 0
    with transaction.atomic():
        Customer.objects.filter(pk__in=[c.pk for c in owned]).update(
            assigned_consultant=None, updated_at=when
        )
        content_type = ContentType.objects.get_for_model(Customer)
        AuditEntry.objects.bulk_create(
            AuditEntry(
                actor=None,
                action=AuditEntry.Action.UPDATE,
                content_type=content_type,
                object_id=c.pk,
                object_repr=c.name[:200],
                changes={
                    "assigned_consultant": {
                        "old": str(c.assigned_consultant),
                        "new": "",
                    }
                },
                created_at=when,
            )
            for c in owned
        )
    return len(owned)
