"""What sales tells the owners' portal (crm_site.portal): who may sign in and who
shares a household, from the deals; and its sections (my homes, my payments)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q

from sales.models import CoBuyer, Opportunity

# A buyer (and their co-buyers) may sign in from subscription (认购) on.
BOUGHT_STAGES = (
    Opportunity.Stage.SUBSCRIBED,
    Opportunity.Stage.CONTRACTED,
    Opportunity.Stage.PAID,
)


def bought_deals():
    return Opportunity.objects.filter(stage__in=BOUGHT_STAGES, unit__isnull=False)


def eligible(customer_ids: Iterable[int]) -> set[int]:
    """Buyers and co-buyers of a deal at subscription or later."""
    ids = list(customer_ids)
    buyers = set(
        bought_deals().filter(customer_id__in=ids).values_list("customer_id", flat=True)
    )
    rest = [pk for pk in ids if pk not in buyers]
    if not rest:
        return buyers
    co_buyers = set(
        CoBuyer.objects.filter(
            customer_id__in=rest, opportunity__in=bought_deals()
        ).values_list("customer_id", flat=True)
    )
    return buyers | co_buyers


def household_deal_ids(customer_pk: int) -> list[int]:
    """The bought deals the customer is buyer or co-buyer of."""
    return list(
        bought_deals()
        .filter(Q(customer_id=customer_pk) | Q(co_buyers__customer_id=customer_pk))
        .values_list("pk", flat=True)
        .distinct()
    )


def household(customer) -> set[int]:
    """The buyers and co-buyers of every bought deal the customer is part of."""
    deals = bought_deals().filter(
        Q(customer_id=customer.pk) | Q(co_buyers__customer_id=customer.pk)
    )
    ids = set(deals.values_list("customer_id", flat=True))
    ids.update(
        CoBuyer.objects.filter(opportunity__in=deals).values_list(
            "customer_id", flat=True
        )
    )
    return ids


def register() -> None:
    from crm_site import portal

    portal.register_eligibility(eligible)
    portal.register_household(household)
