"""Sales' part of a customer merge: deals, registrations (protection), ownership history
and follow-up escalations follow the surviving customer, and go back on undo. Declared
with the customers app's follow_merges, handled in sales' own code."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, QuerySet

from customers.signals import follow_merges, merged, moved
from sales.models import CoBuyer, FollowUpEscalation
from sales.services.ownership_merge import (
    registrations_merge,
    registrations_merge_restore,
)


def _escalations(absorbed, survivor) -> QuerySet:
    # One escalation per customer and due date: the survivor's stands for both.
    already = FollowUpEscalation.objects.filter(
        customer=survivor, due_date=OuterRef("due_date")
    )
    return FollowUpEscalation.objects.filter(customer=absorbed).exclude(Exists(already))


def _co_buyers(absorbed, survivor) -> QuerySet:
    # Named once per deal, and never as a co-buyer of their own deal.
    already = CoBuyer.objects.filter(
        customer=survivor, opportunity_id=OuterRef("opportunity_id")
    )
    return (
        CoBuyer.objects.filter(customer=absorbed)
        .exclude(Exists(already))
        .exclude(opportunity__customer=survivor)
    )


def connect() -> None:
    follow_merges(
        "sales",
        [
            moved("sales.opportunity.customer"),
            moved("sales.dealchange.new_customer"),
            # Opening day: the deposit and the units chosen with it are the buyer's.
            moved("sales.intentdeposit.customer"),
            moved("sales.selection.customer"),
            # The history moves before the rule below writes the merge's own entries.
            moved("sales.ownershipevent.customer"),
            merged(
                "sales.registration.customer",
                rule="Registrations move; where both customers are protected at one "
                "project the earlier still-valid protection wins, the other ends, its "
                "consultant is told and both facts go on the ownership history. "
                "Undo revives the ended one with its original dates.",
                merge=registrations_merge,
                restore=registrations_merge_restore,
            ),
            merged(
                "sales.cobuyer.customer",
                rule="Co-buyers move to the survivor, except on a deal the survivor "
                "already co-buys or buys itself: that row stays on the absorbed record.",
                rows=_co_buyers,
            ),
            merged(
                "sales.followupescalation.customer",
                rule="Escalated once per customer and due date: an escalation the "
                "survivor already has for that date stays on the absorbed record.",
                rows=_escalations,
            ),
        ],
    )
