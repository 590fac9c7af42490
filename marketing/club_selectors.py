"""Reads of the member club: a member's card, the members list, the ledger."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import QuerySet

from crm_site.models import User
from customers.models import Customer
from marketing.models import ClubLevel, ClubMember, PointEntry
from marketing.services.club import club_levels, level_for, level_range, next_level

RECENT_ENTRIES = 5


@dataclass
class ClubCard:
    """What the club card shows: balance, level, the next level and recent entries."""

    balance: int
    level: ClubLevel | None
    next_level: ClubLevel | None
    levels: list[ClubLevel]
    entries: list[PointEntry] = field(default_factory=list)
    is_member: bool = True

    @property
    def to_next(self) -> int | None:
        return self.next_level.min_points - self.balance if self.next_level else None


def club_card(
    customer_ids: list[int], *, entries: int = RECENT_ENTRIES
) -> ClubCard | None:
    """The club card of one member, or of a household's members together (their
    balances and entries added up). None when none of them is in the club yet. Three
    queries: balances, levels, entries."""
    balances = list(
        ClubMember.objects.filter(customer_id__in=customer_ids).values_list(
            "balance", flat=True
        )
    )
    if not balances:
        return None
    balance = sum(balances)
    levels = club_levels()
    return ClubCard(
        balance=balance,
        level=level_for(balance, levels),
        next_level=next_level(balance, levels),
        levels=levels,
        entries=list(
            PointEntry.objects.filter(member_id__in=customer_ids)
            .select_related("created_by")
            .order_by("-occurred_at", "-pk")[:entries]
        )
        if entries
        else [],
    )


def member_rows(
    *, user: User, level: ClubLevel | None = None, levels: list[ClubLevel]
) -> QuerySet[ClubMember]:
    """The club's members the user may see, highest balance first; with ``level``,
    only those holding it."""
    qs = ClubMember.objects.filter(
        customer__in=Customer.objects.visible_to(user).live().values("pk")
    )
    if level is not None:
        low, high = level_range(level, levels)
        qs = qs.filter(balance__gte=low)
        if high is not None:
            qs = qs.filter(balance__lt=high)
    return qs.select_related("customer").order_by("-balance", "customer_id")


def ledger(customer: Customer) -> QuerySet[PointEntry]:
    return (
        PointEntry.objects.filter(member=customer)
        .select_related("created_by", "corrects")
        .order_by("-occurred_at", "-pk")
    )
