"""What sales tells the owners' portal (crm_site.portal): who may sign in and who
shares a household, from the deals; and its sections (my homes, my payments)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import DecimalField, OuterRef, Prefetch, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from sales.models import (
    CoBuyer,
    DealRefund,
    Opportunity,
    PaymentItem,
    Receipt,
    SelectionSession,
    SessionEntry,
    Unit,
)

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


def household_deal_ids(customer_ids: Iterable[int]) -> list[int]:
    """The ids of the bought deals these customers are buyer or co-buyer of: two
    index look-ups in one UNION (an OR across the two tables would scan every deal
    with a unit)."""
    ids = list(customer_ids)
    as_buyer = bought_deals().filter(customer_id__in=ids).values_list("pk", flat=True)
    as_co_buyer = CoBuyer.objects.filter(
        customer_id__in=ids,
        opportunity__stage__in=BOUGHT_STAGES,
        opportunity__unit__isnull=False,
    ).values_list("opportunity_id", flat=True)
    return list(as_buyer.union(as_co_buyer))


def owner_deal_ids(customer) -> list[int]:
    """The owner's homes: the bought deals they are buyer or co-buyer of."""
    return household_deal_ids([customer.pk])


def household(customer) -> set[int]:
    """The buyers and co-buyers of every bought deal the customer is part of."""
    deal_ids = household_deal_ids([customer.pk])
    if not deal_ids:
        return set()
    buyers = Opportunity.objects.filter(pk__in=deal_ids).values_list(
        "customer_id", flat=True
    )
    co_buyers = CoBuyer.objects.filter(opportunity_id__in=deal_ids).values_list(
        "customer_id", flat=True
    )
    return set(buyers.union(co_buyers))


# Online selection (在线选房) ------------------------------------------------------------
#
# A buyer with a deposit of intent entered in a session that offers online selection
# signs in with the same one-time SMS code as an owner, from the moment the order is
# published until the session closes, and sees the "online selection" section.

ONLINE_MODES = (SelectionSession.Mode.ONLINE, SelectionSession.Mode.BOTH)
SELECTING_STATUSES = (SelectionSession.Status.ORDERED, SelectionSession.Status.OPEN)


def online_entries():
    """Entries of sessions a buyer may now follow or choose in from their phone."""
    return SessionEntry.objects.filter(
        session__mode__in=ONLINE_MODES, session__status__in=SELECTING_STATUSES
    )


def opening_eligible(customer_ids: Iterable[int]) -> set[int]:
    """Holders of a deposit entered in an ordered or open online session."""
    return set(
        online_entries()
        .filter(deposit__customer_id__in=list(customer_ids))
        .values_list("deposit__customer_id", flat=True)
    )


def choosable_by(owner, household_ids: Iterable[int]) -> Q:
    """Entries the owner may choose with: their own deposits', and those of the
    members of their own household (Customer.household_id: a spouse chooses with the
    deposit the other holds, and the deposit limits count that household) among the
    portal household ``household_ids``. Sharing a home is not enough: two co-owners
    of an old home (divorced, say) are not one household. The opening lane asks the
    same (sales.opening_lane._LOOKUP_SQL)."""
    mine = Q(deposit__customer_id=owner.pk)
    if owner.household_id is not None:
        mine |= Q(
            deposit__customer_id__in=list(household_ids),
            deposit__customer__household_id=owner.household_id,
        )
    return mine


def opening_shown(ctx) -> bool:
    """The section shows only to whoever may choose with such an entry (one
    query)."""
    return online_entries().filter(choosable_by(ctx.owner, ctx.household_ids)).exists()


# What the owner sees -----------------------------------------------------------------

#: A deal's stage as an owner would say it.
STAGE_WORDS = {
    Opportunity.Stage.SUBSCRIBED: _(
        "Subscription signed; the purchase contract comes next."
    ),
    Opportunity.Stage.CONTRACTED: _("Purchase contract signed; payments under way."),
    Opportunity.Stage.PAID: _("Paid in full."),
}
HANDED_OVER_WORDS = _("Handed over: welcome home.")


def stage_words(deal: Opportunity) -> str:
    if deal.unit is not None and deal.unit.status == Unit.Status.HANDED_OVER:
        return str(HANDED_OVER_WORDS)
    return str(STAGE_WORDS.get(deal.stage, deal.get_stage_display()))


def _buyer_fields_not_shown() -> list[str]:
    from customers.models import Customer

    return [
        f"customer__{field.name}"
        for field in Customer._meta.concrete_fields
        if field.name not in ("id", "name", "mobile", "id_type", "id_number")
        and not field.is_relation
    ]


BUYER_FIELDS_NOT_SHOWN = _buyer_fields_not_shown()


def owner_deals(deal_ids: Iterable[int]):
    """The owner's bought deals (``request.owner_deal_ids``: those they are buyer or
    co-buyer of, not those of another member of their household), with the unit, the
    project and the co-buyers: two queries whatever their number, three with the
    look-up of the deal ids."""
    return (
        bought_deals()
        .filter(pk__in=list(deal_ids))
        .select_related("customer", "project", "unit__building__project", "consultant")
        # The buyer's name is all the owner's pages show of the buyer's record.
        .defer(*BUYER_FIELDS_NOT_SHOWN)
        .prefetch_related(
            Prefetch(
                "co_buyers",
                queryset=CoBuyer.objects.select_related("customer").order_by(
                    "added_at", "pk"
                ),
            )
        )
        .order_by("-stage_changed_at", "-pk")
    )


def owner_unit_ids(deal_ids: Iterable[int]):
    """The units of the owner's bought deals, as a subquery (no query of its own)."""
    return bought_deals().filter(pk__in=list(deal_ids)).values("unit_id")


@dataclass
class Payments:
    """One deal's payment plan as the owner reads it."""

    deal: Opportunity
    items: list[PaymentItem]
    receipts: list[Receipt]
    total: Decimal = Decimal("0")
    received: Decimal = Decimal("0")
    # What is truly left: the agreed price less what was received, never below what
    # the plan's own lines still owe.
    outstanding: Decimal = Decimal("0")
    # The part of the agreed price no line of the plan covers yet: a subscription
    # signed at a selection holds only the deposit applied; the rest's schedule is
    # agreed at contract signing.
    unscheduled: Decimal = Decimal("0")
    overdue: Decimal = Decimal("0")
    due_next: PaymentItem | None = None
    documents: list[str] = field(default_factory=list)


def owner_payments(deal_ids: Iterable[int]) -> list[Payments]:
    """Per bought deal of the owner: the plan, the receipts, what is received,
    outstanding and overdue. Four queries whatever the number of deals and lines,
    five with the look-up of the deal ids.

    What is left to pay is what the plan must add up to (the agreed price, and the
    money earlier changes kept or owe back, which stays on the lines received:
    sales.services.money.plan_total) less what the lines received, never below what
    the lines still owe: a subscription signed at a selection has only the deposit
    applied on its plan until the contract, not nothing left to pay."""
    from sales.selectors import printable_documents

    today = timezone.localdate()
    refunded = (
        DealRefund.objects.filter(opportunity=OuterRef("pk"))
        .order_by()
        .values("opportunity")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    money = DecimalField(max_digits=14, decimal_places=2)
    deals = list(
        owner_deals(deal_ids)
        .annotate(
            plan_refunded=Coalesce(
                Subquery(refunded, output_field=money), Decimal("0"), output_field=money
            )
        )
        .prefetch_related(
            Prefetch(
                "payment_items",
                queryset=PaymentItem.objects.order_by("sequence").prefetch_related(
                    Prefetch(
                        "receipts",
                        queryset=Receipt.objects.order_by("received_on", "pk"),
                    )
                ),
            )
        )
    )
    result = []
    for deal in deals:
        items = list(deal.payment_items.all())
        receipts = [r for item in items for r in item.receipts.all()]
        for receipt in receipts:
            receipt.kind_label = next(
                i.get_kind_display() for i in items if i.pk == receipt.item_id
            )
        open_items = [i for i in items if i.outstanding > 0]
        total = sum((i.amount for i in items), Decimal("0"))
        received = sum((i.received for i in items), Decimal("0"))
        owed = sum((i.outstanding for i in open_items), Decimal("0"))
        # What the plan must add up to (sales.services.money.plan_total).
        target = (
            None
            if deal.agreed_price is None
            else deal.agreed_price + deal.forfeited + deal.plan_refunded
        )
        result.append(
            Payments(
                deal=deal,
                items=items,
                receipts=sorted(receipts, key=lambda r: (r.received_on, r.pk)),
                total=total,
                received=received,
                outstanding=owed if target is None else max(target - received, owed),
                unscheduled=(
                    Decimal("0")
                    if target is None
                    else max(target - total, Decimal("0"))
                ),
                overdue=sum(
                    (i.outstanding for i in open_items if i.due_date < today),
                    Decimal("0"),
                ),
                due_next=next((i for i in open_items if i.due_date >= today), None),
                documents=printable_documents(deal),
            )
        )
    return result


def register() -> None:
    from crm_site import portal

    portal.register_eligibility(eligible)
    portal.register_eligibility(opening_eligible)
    portal.register_household(household)
    portal.register_deals(owner_deal_ids)
    portal.register(
        "sales.homes",
        title=_("My homes"),
        url_name="sales_portal:homes",
        order=10,
        icon="bi-building",
    )
    portal.register(
        "sales.payments",
        title=_("My payments"),
        url_name="sales_portal:payments",
        order=20,
        icon="bi-cash-coin",
    )
    portal.register(
        "sales.opening",
        title=_("Online selection"),
        url_name="sales_portal:opening-sessions",
        # First on a buyer's tab bar: on opening day it is why they signed in.
        order=5,
        icon="bi-grid-3x3-gap",
        shown=opening_shown,
    )
