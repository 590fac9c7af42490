"""The referral funnel (老带新) for the marketing dashboard.

referral_funnel(project=None, start=None, end=None) counts the referrals recorded in
the window (dates, inclusive, Asia/Shanghai) and how far their friends got: a visit
logged or a deal that reached "visited" or further, a subscription, a contract; and
the rewards of those referrals still owed (due or approved) and paid, with amounts.
One aggregate query over the referral table's indexes, correlated EXISTS for the steps.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.utils import timezone

from customers.models import Interaction
from marketing.models import Referral
from marketing.models.payouts import Payout
from sales.models import Opportunity, Project, StageChange

VISITED_OR_LATER = (
    Opportunity.Stage.VISITED,
    Opportunity.Stage.RESERVED,
    Opportunity.Stage.SUBSCRIBED,
    Opportunity.Stage.CONTRACTED,
    Opportunity.Stage.PAID,
)


def _moment(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def _reached(stages) -> Exists:
    return Exists(
        StageChange.objects.filter(
            opportunity__customer_id=OuterRef("friend_id"),
            to_stage__in=stages,
            changed_at__gte=OuterRef("recorded_at"),
        )
    )


def referral_funnel(
    project: Project | None = None,
    start: date | None = None,
    end: date | None = None,
) -> dict:
    referrals = Referral.objects.all()
    if project is not None:
        referrals = referrals.filter(project=project)
    if start is not None:
        referrals = referrals.filter(recorded_at__gte=_moment(start))
    if end is not None:
        referrals = referrals.filter(recorded_at__lt=_moment(end + timedelta(days=1)))
    visited = Exists(
        Interaction.objects.filter(
            customer_id=OuterRef("friend_id"),
            kind=Interaction.Kind.VISIT,
            occurred_at__gte=OuterRef("recorded_at"),
        )
    ) | _reached(VISITED_OR_LATER)
    owed = Q(reward__status__in=[Payout.Status.DUE, Payout.Status.APPROVED])
    paid = Q(reward__status=Payout.Status.PAID)
    totals = referrals.annotate(
        was_visited=visited,
        was_subscribed=_reached(
            (
                Opportunity.Stage.SUBSCRIBED,
                Opportunity.Stage.CONTRACTED,
                Opportunity.Stage.PAID,
            )
        ),
    ).aggregate(
        referred=Count("id"),
        visited=Count("id", filter=Q(was_visited=True)),
        subscribed=Count("id", filter=Q(was_subscribed=True)),
        contracted=Count("reward"),
        reward_due_count=Count("reward", filter=owed),
        reward_due=Sum("reward__amount", filter=owed),
        reward_paid_count=Count("reward", filter=paid),
        reward_paid=Sum("reward__amount", filter=paid),
    )
    totals["reward_due"] = totals["reward_due"] or Decimal("0")
    totals["reward_paid"] = totals["reward_paid"] or Decimal("0")
    return totals
