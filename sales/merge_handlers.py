"""Sales' part of a customer merge: deals follow the surviving customer, and go back
on undo. Handles the customers app's signals in sales' own code."""

from __future__ import annotations

from customers.signals import follow_merges
from sales.models import DealChange, Opportunity


def connect() -> None:
    follow_merges(
        "sales",
        [
            (
                "sales.opportunity",
                lambda absorbed, survivor: Opportunity.objects.filter(
                    customer=absorbed
                ),
                "customer",
            ),
            (
                "sales.dealchange",
                lambda absorbed, survivor: DealChange.objects.filter(
                    new_customer=absorbed
                ),
                "new_customer",
            ),
        ],
    )
