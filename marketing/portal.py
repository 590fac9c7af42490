"""What marketing adds to the owners' portal (crm_site.portal): "Recommend a friend"
(老带新) with the household's referrals and their progress in plain words, and the
"Member club" (level, points, ledger, benefits, events that invite the owner).

Everything is read within the household (``request.household_ids``); a friend is
shown by the name the owner typed and by steps taken since the recommendation, never
by what the CRM knew of them before."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Exists, OuterRef, QuerySet
from django.db.models.functions import Substr
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from customers.models import Interaction
from marketing.models import (
    Campaign,
    CampaignMember,
    Recommendation,
    Referral,
    Response,
)
from marketing.models.campaigns import campaign_today
from marketing.models.payouts import Payout
from sales.models import Opportunity, StageChange

VISITED_OR_LATER = (
    Opportunity.Stage.VISITED,
    Opportunity.Stage.RESERVED,
    Opportunity.Stage.SUBSCRIBED,
    Opportunity.Stage.CONTRACTED,
    Opportunity.Stage.PAID,
)
SUBSCRIBED_OR_LATER = (
    Opportunity.Stage.SUBSCRIBED,
    Opportunity.Stage.CONTRACTED,
    Opportunity.Stage.PAID,
)
SIGNED = (Opportunity.Stage.CONTRACTED, Opportunity.Stage.PAID)
# How far the friend got, in the order the steps are shown.
STEPS = ("received", "visited", "subscribed", "signed")


@dataclass(frozen=True)
class FriendRow:
    """One recommendation as the owner sees it."""

    name: str
    recommended_at: datetime
    step: str
    reward_amount: Decimal | None = None
    reward_status: str = ""

    @property
    def step_number(self) -> int:
        return STEPS.index(self.step) + 1

    @property
    def progress(self) -> str:
        return {
            "received": _("Received: our sales office will contact your friend."),
            "visited": _("Your friend has visited us."),
            "subscribed": _("Your friend has subscribed for a home."),
            "signed": _("Your friend has signed a purchase contract."),
        }[self.step]

    @property
    def reward(self) -> str:
        if self.reward_amount is None:
            return _("No reward yet: it becomes due when your friend signs a contract.")
        amount = f"¥{self.reward_amount:,.2f}"
        return {
            Payout.Status.DUE: _("Reward of %(amount)s: being approved."),
            Payout.Status.APPROVED: _("Reward of %(amount)s: approved, to be paid."),
            Payout.Status.PAID: _("Reward of %(amount)s: paid."),
        }[self.reward_status] % {"amount": amount}


def _since_recommended(stages: Iterable[str]) -> Exists:
    return Exists(
        StageChange.objects.filter(
            opportunity__customer_id=OuterRef("friend_id"),
            to_stage__in=list(stages),
            changed_at__gte=OuterRef("recorded_at"),
        )
    )


def household_referrals(household_ids: Iterable[int]) -> QuerySet[Referral]:
    """The household's referrals with how far each friend got since (one query)."""
    visited = Exists(
        Interaction.objects.filter(
            customer_id=OuterRef("friend_id"),
            kind=Interaction.Kind.VISIT,
            occurred_at__gte=OuterRef("recorded_at"),
        )
    )
    return (
        Referral.objects.filter(referrer_id__in=list(household_ids))
        .select_related("reward")
        .annotate(
            was_visited=visited | _since_recommended(VISITED_OR_LATER),
            was_subscribed=_since_recommended(SUBSCRIBED_OR_LATER),
            was_signed=_since_recommended(SIGNED),
            friend_initial=Substr("friend__name", 1, 1),
        )
        .order_by("-recorded_at", "-pk")
    )


def _masked(initial: str) -> str:
    # A referral recorded at the desk before names were kept as given: the family
    # name only, as a letter or a call would address the friend.
    return f"{initial}**" if initial else "—"


def friend_rows(household_ids: Iterable[int], *, limit: int = 50) -> list[FriendRow]:
    """The household's recommendations, newest first: referrals with their progress
    and reward, and recommendations that could not become a referral (shown as
    received, like any other: the owner is told nothing about an existing
    customer). Two queries."""
    ids = list(household_ids)
    rows: list[FriendRow] = []
    for referral in household_referrals(ids)[:limit]:
        reward = getattr(referral, "reward", None)
        step = (
            "signed"
            if referral.was_signed or reward is not None
            else "subscribed"
            if referral.was_subscribed
            else "visited"
            if referral.was_visited
            else "received"
        )
        rows.append(
            FriendRow(
                name=referral.name_given or _masked(referral.friend_initial),
                recommended_at=referral.recorded_at,
                step=step,
                reward_amount=reward.amount if reward is not None else None,
                reward_status=reward.status if reward is not None else "",
            )
        )
    declined = Recommendation.objects.filter(
        owner_id__in=ids, referral__isnull=True
    ).order_by("-created_at", "-pk")[:limit]
    rows += [
        FriendRow(name=r.name_given, recommended_at=r.created_at, step="received")
        for r in declined
    ]
    rows.sort(key=lambda row: row.recommended_at, reverse=True)
    return rows[:limit]


def owner_event_memberships(owner_id: int) -> QuerySet[CampaignMember]:
    """Every event (campaign of the event kind) that invited this owner, whatever
    its state, with whether they signed up. One query."""
    signed_up = Response.objects.filter(
        member_id=OuterRef("pk"), kind=Response.Kind.SIGNUP
    )
    return (
        CampaignMember.objects.filter(
            customer_id=owner_id, campaign__kind=Campaign.Kind.EVENT
        )
        .select_related("campaign__min_level")
        .annotate(signed_up=Exists(signed_up))
        .order_by("campaign__starts_on", "pk")
    )


def owner_events(owner_id: int) -> QuerySet[CampaignMember]:
    """The running events that invite this owner: not past their end date (the
    last day included), as sign-ups are decided."""
    return owner_event_memberships(owner_id).filter(
        campaign__status=Campaign.Status.RUNNING,
        campaign__ends_on__gte=campaign_today(),
    )


def register() -> None:
    from crm_site import portal

    portal.register(
        "marketing.club",
        title=gettext_lazy("Member club"),
        url_name="marketing_portal:club",
        order=70,
        icon="bi-award",
    )
    portal.register(
        "marketing.recommend",
        title=gettext_lazy("Recommend a friend"),
        url_name="marketing_portal:recommend",
        order=75,
        icon="bi-person-plus",
    )
