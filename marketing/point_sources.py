"""The point sources marketing sees itself (registered in MarketingConfig.ready()):
a referral reaching contract, an event attended, each year of ownership (read from
sales, which marketing may import). Other apps register theirs (service: a survey
answered) through marketing.points.register_point_source."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import islice

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from marketing.points import Occurrence, register_point_source

REFERRAL_CONTRACT = "referral_contract"
EVENT_ATTENDED = "event_attended"
OWNERSHIP_YEAR = "ownership_year"


def referral_award_keys(referral_id: int, reward_id: int) -> tuple[str, str]:
    """The occurrence keys a referral's reward may have earned points under: the
    referral's own, or, once an earlier reward's points were taken back (its deal
    was cancelled), the reward's (a friend who signs again earns them again)."""
    first = f"referral:{referral_id}"
    return first, f"{first}:{reward_id}"


def referral_contracts(
    *, since: datetime | None, customer_ids: Iterable[int] | None
) -> Iterator[Occurrence]:
    """A friend the member referred signed a contract: the reward became due."""
    from marketing.models import PointEntry, ReferralReward

    rewards = ReferralReward.objects.all()
    if since is not None:
        rewards = rewards.filter(due_at__gte=since)
    if customer_ids is not None:
        rewards = rewards.filter(referral__referrer_id__in=list(customer_ids))
    rows = rewards.values_list(
        "pk", "referral_id", "referral__referrer_id", "due_at"
    ).iterator(chunk_size=2000)
    while chunk := list(islice(rows, 2000)):
        keys = {
            pk: referral_award_keys(referral_id, pk) for pk, referral_id, *_ in chunk
        }
        # The referrals whose first award was taken back (and not given back
        # since): their reward now earns under its own key (one query a chunk).
        taken_back = set(
            PointEntry.objects.filter(
                source=REFERRAL_CONTRACT,
                key__in=[first for first, _own in keys.values()],
            )
            .taken_back()
            .values_list("key", flat=True)
        )
        for pk, _referral_id, referrer_id, due_at in chunk:
            first, own = keys[pk]
            yield Occurrence(referrer_id, own if first in taken_back else first, due_at)


def events_attended(
    *, since: datetime | None, customer_ids: Iterable[int] | None
) -> Iterator[Occurrence]:
    """The member checked in at an event (a campaign of the event kind)."""
    from marketing.models import Campaign, Response

    checkins = Response.objects.filter(
        kind=Response.Kind.CHECKIN, campaign__kind=Campaign.Kind.EVENT
    )
    if since is not None:
        checkins = checkins.filter(at__gte=since)
    if customer_ids is not None:
        checkins = checkins.filter(customer_id__in=list(customer_ids))
    for pk, customer_id, at in checkins.values_list("pk", "customer_id", "at").iterator(
        chunk_size=2000
    ):
        yield Occurrence(customer_id, f"checkin:{pk}", at)


def _anniversary(start: datetime, years: int) -> datetime:
    try:
        return start.replace(year=start.year + years)
    except ValueError:  # 29 February
        return start.replace(year=start.year + years, day=28)


def ownership_years(
    *, since: datetime | None, customer_ids: Iterable[int] | None
) -> Iterator[Occurrence]:
    """Each full year since the buyer signed the contract of a deal still signed
    (contracted or paid in full), one occurrence per deal and year."""
    from sales.models import Opportunity, StageChange

    now = timezone.now()
    contracts = StageChange.objects.filter(
        to_stage=Opportunity.Stage.CONTRACTED,
        opportunity__stage__in=(
            Opportunity.Stage.CONTRACTED,
            Opportunity.Stage.PAID,
        ),
        changed_at__lte=_anniversary(now, -1),
    )
    if customer_ids is not None:
        contracts = contracts.filter(opportunity__customer_id__in=list(customer_ids))
    for opportunity_id, customer_id, signed_at in contracts.values_list(
        "opportunity_id", "opportunity__customer_id", "changed_at"
    ).iterator(chunk_size=2000):
        years = 1
        while (anniversary := _anniversary(signed_at, years)) <= now:
            if since is None or anniversary >= since:
                yield Occurrence(
                    customer_id, f"ownership:{opportunity_id}:{years}", anniversary
                )
            years += 1


def register() -> None:
    register_point_source(
        REFERRAL_CONTRACT,
        label=_("Referral reached contract"),
        occurrences=referral_contracts,
        order=10,
    )
    register_point_source(
        EVENT_ATTENDED, label=_("Event attended"), occurrences=events_attended, order=20
    )
    register_point_source(
        OWNERSHIP_YEAR,
        label=_("Year of ownership"),
        occurrences=ownership_years,
        order=40,
    )
