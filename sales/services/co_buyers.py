"""Co-buyers (共同购房人): the household members named with the buyer on a deal."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from crm_site.audit import audit_record
from crm_site.models import AuditEntry, User
from customers.models import Customer
from sales.models import CoBuyer, Opportunity

# Who signs is settled at contract: naming someone else after it is a change of
# buyer (更名), which goes through a deal change and its approval.
CO_BUYER_STAGES = (
    Opportunity.Stage.NEW,
    Opportunity.Stage.CONTACTED,
    Opportunity.Stage.VISITED,
    Opportunity.Stage.RESERVED,
    Opportunity.Stage.SUBSCRIBED,
)


def co_buyer_candidates(deal: Opportunity):
    """The buyer's household, the buyer excepted: who may be named as a co-buyer."""
    if deal.customer.household_id is None:
        return Customer.objects.none()
    return (
        Customer.objects.filter(
            household_id=deal.customer.household_id,
            merged_into__isnull=True,
            anonymised_at__isnull=True,
        )
        .exclude(pk=deal.customer_id)
        .order_by("name", "pk")
    )


def _names(customers: Iterable[Customer]) -> str:
    return "、".join(sorted(f"{c.name} (#{c.pk})" for c in customers))


@transaction.atomic
def deal_co_buyers_set(
    *, actor: User, deal: Opportunity, customers: Iterable[Customer]
) -> bool:
    """Name exactly these co-buyers on the deal; False when nothing changed.

    Each must belong to the buyer's household; the list can change until the
    contract is signed. The change is audited on the deal, with the names.
    """
    locked = Opportunity.objects.select_for_update().get(pk=deal.pk)
    if locked.stage not in CO_BUYER_STAGES:
        raise ValidationError(
            _(
                "Co-buyers are settled at contract; change the buyer through a deal change."
            )
        )
    wanted = {c.pk: c for c in customers}
    allowed = set(co_buyer_candidates(locked).values_list("pk", flat=True))
    outside = [c.name for pk, c in wanted.items() if pk not in allowed]
    if outside:
        raise ValidationError(
            _(
                "Not in the buyer's household: %(names)s. Link them on the customer page first."
            )
            % {"names": "、".join(outside)}
        )
    current = {
        row.customer_id: row.customer
        for row in locked.co_buyers.select_related("customer")
    }
    if set(current) == set(wanted):
        return False
    locked.co_buyers.exclude(customer_id__in=list(wanted)).delete()
    CoBuyer.objects.bulk_create(
        [
            CoBuyer(opportunity=locked, customer=customer, added_by=actor)
            for pk, customer in wanted.items()
            if pk not in current
        ]
    )
    audit_record(
        actor=actor,
        instance=locked,
        action=AuditEntry.Action.UPDATE,
        changes={
            "co_buyers": {
                "old": _names(current.values()),
                "new": _names(wanted.values()),
            }
        },
    )
    return True
