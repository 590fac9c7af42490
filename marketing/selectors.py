"""Reads for marketing: segment members, campaign progress and return."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from crm_site.models import User
from customers.models import Customer, CustomerValue
from marketing.models import Campaign, CampaignMember, CostLine, Invitation, Response
from sales.models import Opportunity, Project, Registration
from service.models import ServiceRequest, SurveyResponse

# Deals at these stages count as subscriptions, and the last two as contracts.
SUBSCRIBED_STAGES = (
    Opportunity.Stage.SUBSCRIBED,
    Opportunity.Stage.CONTRACTED,
    Opportunity.Stage.PAID,
)
CONTRACTED_STAGES = (Opportunity.Stage.CONTRACTED, Opportunity.Stage.PAID)
# Survey index (0–100) from which an answer counts as satisfied, and below which not.
SATISFIED_FROM = 80
UNSATISFIED_BELOW = 60
CONSENT_FIELDS = {
    "email": "consent_email",
    "sms": "consent_sms",
    "phone": "consent_phone",
}


def _day_start(value: str) -> datetime:
    return timezone.make_aware(datetime.combine(date.fromisoformat(value), time.min))


def segment_customers(*, user: User, criteria: dict) -> QuerySet:
    """The live customers the user may see that match a segment's filters.

    Plain columns use the customer indexes; everything kept in another table is an
    EXISTS subquery, which PostgreSQL runs as a semi-join on that table's own index
    (never a join that multiplies rows and needs DISTINCT)."""
    # Anonymised customers are never targeted (PIPL request).
    qs = Customer.objects.visible_to(user).identifiable()
    if criteria.get("stage"):
        qs = qs.filter(stage=criteria["stage"])
    if criteria.get("source"):
        qs = qs.filter(source=criteria["source"])
    if criteria.get("consent") in CONSENT_FIELDS:
        qs = qs.filter(**{CONSENT_FIELDS[criteria["consent"]]: True})
    if criteria.get("contact_after"):
        qs = qs.filter(last_contact_at__gte=_day_start(criteria["contact_after"]))
    if criteria.get("contact_before"):
        qs = qs.filter(last_contact_at__lt=_day_start(criteria["contact_before"]))
    if criteria.get("tag"):
        qs = qs.filter(
            Exists(
                Customer.tags.through.objects.filter(
                    customer_id=OuterRef("pk"), tag_id=criteria["tag"]
                )
            )
        )
    if criteria.get("project"):
        project = criteria["project"]
        qs = qs.filter(
            Exists(
                Opportunity.objects.filter(
                    customer_id=OuterRef("pk"), project_id=project
                )
            )
            | Exists(
                Registration.objects.filter(
                    customer_id=OuterRef("pk"), project_id=project
                )
            )
        )
    qs = _service_filters(qs, criteria)
    return _value_filters(qs, criteria)


def _value_filters(qs: QuerySet, criteria: dict) -> QuerySet:
    """Value score and tier (customers.value): one EXISTS on the value facts, a
    semi-join on their primary key, score or tier index."""
    wanted = {}
    if criteria.get("value_min") not in (None, ""):
        wanted["score__gte"] = Decimal(str(criteria["value_min"]))
    if criteria.get("value_tier"):
        wanted["tier_id"] = criteria["value_tier"]
    if not wanted:
        return qs
    return qs.filter(
        Exists(CustomerValue.objects.filter(customer_id=OuterRef("pk"), **wanted))
    )


def _service_filters(qs: QuerySet, criteria: dict) -> QuerySet:
    requests = ServiceRequest.objects.filter(customer_id=OuterRef("pk"))
    answers = SurveyResponse.objects.filter(customer_id=OuterRef("pk"))
    # An owner's satisfaction: their survey answers and what they said at callbacks.
    unhappy = Exists(requests.filter(satisfied=False)) | Exists(
        answers.filter(index__lt=UNSATISFIED_BELOW)
    )
    happy = Exists(requests.filter(satisfied=True)) | Exists(
        answers.filter(index__gte=SATISFIED_FROM)
    )
    if criteria.get("satisfaction") == "satisfied":
        qs = qs.filter(happy & ~unhappy)
    elif criteria.get("satisfaction") == "unsatisfied":
        qs = qs.filter(unhappy)
    open_complaints = Exists(
        requests.filter(
            kind=ServiceRequest.Kind.COMPLAINT, status__in=ServiceRequest.OPEN
        )
    )
    if criteria.get("open_complaints") == "yes":
        qs = qs.filter(open_complaints)
    elif criteria.get("open_complaints") == "no":
        qs = qs.filter(~open_complaints)
    return qs


def segment_count(*, user: User, criteria: dict) -> int:
    return segment_customers(user=user, criteria=criteria).order_by().count()


def of_visible_customers(rows: QuerySet, *, user: User) -> QuerySet:
    """The rows (campaign members, responses, deals) of customers the user may see:
    a campaign's members were copied with the scope of whoever started it."""
    return rows.filter(customer__in=Customer.objects.visible_to(user).values("pk"))


def out_of_view(*, user: User) -> Q:
    """Rows (members, responses, deals) of customers the user may not see: what
    of_visible_customers leaves out, for counting it. NOT EXISTS, not NOT IN: the
    visible customers may be most of a million, which PostgreSQL would hash (or,
    past work_mem, scan again for every row); NOT EXISTS is an anti-join probing
    the customers' primary key."""
    visible = Customer.objects.visible_to(user).filter(pk=OuterRef("customer_id"))
    return ~Q(Exists(visible))


def latest_campaign_of(
    *, customer: Customer, project: Project | None = None
) -> int | None:
    """The campaign the customer last answered (signed up or checked in), if any;
    with a project (a deal's), only that project's campaigns. A cancelled campaign
    is credited with nothing."""
    responses = Response.objects.filter(customer_id=customer.pk).exclude(
        campaign__status=Campaign.Status.CANCELLED
    )
    if project is not None:
        responses = responses.filter(campaign__project_id=project.pk)
    return (
        responses.order_by("-at", "-id").values_list("campaign_id", flat=True).first()
    )


@dataclass
class Progress:
    counts: dict[str, int]
    total: int

    @property
    def done(self) -> int:
        return (
            self.total - self.counts.get("pending", 0) - self.counts.get("sending", 0)
        )

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0

    @property
    def active(self) -> bool:
        return self.total > 0 and self.done < self.total


@dataclass(frozen=True)
class SendPreview:
    """What sending a campaign's invitations now would do: messages per channel and
    the customers they reach (one customer may get an e-mail and an SMS)."""

    members: int
    customers: int
    by_channel: dict[str, int]

    @property
    def messages(self) -> int:
        return sum(self.by_channel.values())


def invitations_preview(*, campaign: Campaign) -> SendPreview:
    """Counted with the send's own filter (consent, address, not invited yet), in one
    query: the number the confirmation shows is the number queued."""
    # Imported here: marketing.services imports this module.
    from marketing.services.invitations import recipients

    channels = list(campaign.channels)
    figures: dict[str, Any] = {"members": Count("pk")}
    for channel in channels:
        figures[f"on_{channel}"] = Count("pk", filter=recipients(channel))
    if channels:
        reached = Q()
        for channel in channels:
            reached |= recipients(channel)
        figures["customers"] = Count("pk", filter=reached)
    row = CampaignMember.objects.filter(campaign=campaign).aggregate(**figures)
    return SendPreview(
        members=row["members"],
        customers=row.get("customers") or 0,
        by_channel={channel: row[f"on_{channel}"] for channel in channels},
    )


def invitation_progress(*, campaign: Campaign) -> Progress:
    rows = (
        Invitation.objects.filter(campaign=campaign)
        .order_by()
        .values("status")
        .annotate(n=Count("id"))
    )
    counts = {row["status"]: row["n"] for row in rows}
    return Progress(counts=counts, total=sum(counts.values()))


def _ratio(numerator: Decimal, denominator: Decimal | int) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.01"))


@dataclass
class CampaignReturn:
    """What one campaign cost and brought. Visits are guests checked in at the door;
    subscriptions and contracts are the deals credited to the campaign."""

    members: int = 0
    responses: int = 0
    visits: int = 0
    subscriptions: int = 0
    contracts: int = 0
    contracted_value: Decimal = field(default_factory=lambda: Decimal("0"))
    cost: Decimal = field(default_factory=lambda: Decimal("0"))
    # Counted for a reader only (campaign_returns(user=...)): of the members, the
    # responding members and the deals credited to the campaign, those of customers
    # the reader may not see. The figures above stay the campaign's own (its cost
    # and return do not depend on who reads them); these say how many of them the
    # page's lists leave out.
    hidden_members: int = 0
    hidden_responses: int = 0
    hidden_deals: int = 0

    @property
    def cost_per_visit(self) -> Decimal | None:
        return _ratio(self.cost, self.visits)

    @property
    def cost_per_contract(self) -> Decimal | None:
        return _ratio(self.cost, self.contracts)

    @property
    def return_ratio(self) -> Decimal | None:
        """Contracted value ÷ cost."""
        return _ratio(self.contracted_value, self.cost)

    def add(self, other: CampaignReturn) -> None:
        for name in (
            "members",
            "responses",
            "visits",
            "subscriptions",
            "contracts",
            "contracted_value",
            "cost",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def counted_once() -> Q:
    """Members and responses that count: a person counts once. A merge folds the
    absorbed customer's responses into the survivor's membership of a campaign both
    were members of, and what the absorbed record left behind is not counted
    (merged-away customers are few: a hashed NOT IN)."""
    return ~Q(
        customer_id__in=Customer.objects.filter(merged_into__isnull=False).values("pk")
    )


def checked_in_count(*, campaign: Campaign) -> int:
    """The guests checked in at the door, each person once (as the figures count
    visits): one query."""
    return (
        Response.objects.filter(campaign=campaign, kind=Response.Kind.CHECKIN)
        .filter(counted_once())
        .count()
    )


def _grouped_figures(
    result: dict, *, key: str, campaigns: Q, user: User | None = None
) -> dict[Any, CampaignReturn]:
    """Fill figures grouped by `key` (campaign_id, or campaign__kind) over the
    campaigns matched by `campaigns` (a Q on the campaign__ relation): four grouped
    queries, whatever the number of campaigns. With a `user`, the same queries also
    count the rows of customers that user may not see (CampaignReturn.hidden_*)."""

    def rows(model, **annotations):
        return (
            model.objects.filter(campaigns)
            .order_by()
            .values(key)
            .annotate(**annotations)
        )

    def figures(row) -> CampaignReturn:
        return result.setdefault(row[key], CampaignReturn())

    once = counted_once()
    hidden: dict[str, Any] = {}
    if user is not None:
        unseen = out_of_view(user=user)
        hidden = {
            "members": {"hidden": Count("id", filter=unseen)},
            "responses": {"hidden": Count("member_id", distinct=True, filter=unseen)},
            "deals": {"hidden": Count("id", filter=unseen)},
        }
    for row in rows(CampaignMember, n=Count("id"), **hidden.get("members", {})).filter(
        once
    ):
        figures(row).members = row["n"]
        figures(row).hidden_members = row.get("hidden", 0)
    for row in rows(
        Response,
        responses=Count("member_id", distinct=True),
        visits=Count("member_id", filter=Q(kind=Response.Kind.CHECKIN)),
        **hidden.get("responses", {}),
    ).filter(once):
        figures(row).responses = row["responses"]
        figures(row).visits = row["visits"]
        figures(row).hidden_responses = row.get("hidden", 0)
    for row in rows(
        Opportunity,
        subscriptions=Count("id", filter=Q(stage__in=SUBSCRIBED_STAGES)),
        contracts=Count("id", filter=Q(stage__in=CONTRACTED_STAGES)),
        value=Sum("agreed_price", filter=Q(stage__in=CONTRACTED_STAGES)),
        **hidden.get("deals", {}),
    ):
        figures(row).subscriptions = row["subscriptions"]
        figures(row).contracts = row["contracts"]
        figures(row).contracted_value = row["value"] or Decimal("0")
        figures(row).hidden_deals = row.get("hidden", 0)
    for row in rows(CostLine, total=Sum("amount")):
        figures(row).cost = row["total"] or Decimal("0")
    return result


def campaign_returns(
    *, campaign_ids: list[int], user: User | None = None
) -> dict[int, CampaignReturn]:
    """Every figure of these campaigns, in four grouped queries. With a `user` (the
    campaign's page), also how many of the customers counted that user may not see,
    in the same queries."""
    result = {pk: CampaignReturn() for pk in campaign_ids}
    if not campaign_ids:
        return result
    return _grouped_figures(
        result,
        key="campaign_id",
        campaigns=Q(campaign_id__in=campaign_ids),
        user=user,
    )


def members_out_of_view(*, campaign: Campaign, user: User) -> tuple[int, int]:
    """The campaign's members as its figures count them, and how many of them are
    customers the user may not see (the members page lists the others): one query."""
    unseen = out_of_view(user=user)
    row = (
        CampaignMember.objects.filter(campaign=campaign)
        .filter(counted_once())
        .aggregate(total=Count("id"), hidden=Count("id", filter=unseen))
    )
    return row["total"], row["hidden"]


def returns_by_kind() -> list[tuple[str, CampaignReturn]]:
    """Every campaign that was not cancelled, summed per channel (campaign type)."""
    by_kind = _grouped_figures(
        {},
        key="campaign__kind",
        campaigns=~Q(campaign__status=Campaign.Status.CANCELLED),
    )
    return [
        (label, by_kind[value])
        for value, label in Campaign.Kind.choices
        if value in by_kind
    ]


def contracted_value_by_source() -> list[tuple[str, int, Decimal]]:
    """Contracts credited to a campaign, by the customer's source channel: over the
    campaigns the return's totals count (every one not cancelled)."""
    rows = (
        Opportunity.objects.filter(campaign__isnull=False, stage__in=CONTRACTED_STAGES)
        .exclude(campaign__status=Campaign.Status.CANCELLED)
        .order_by()
        .values("customer__source")
        .annotate(n=Count("id"), value=Sum("agreed_price"))
    )
    labels = dict(Customer.Source.choices)
    return [
        (
            labels.get(row["customer__source"], row["customer__source"]),
            row["n"],
            row["value"] or Decimal("0"),
        )
        for row in rows
    ]


@dataclass(frozen=True)
class CancelledCost:
    campaigns: int
    cost: Decimal


def cancelled_cost() -> CancelledCost:
    """What the cancelled campaigns cost: left out of the return's figures, as the
    contracts credited to them are, and shown apart so no money spent goes unseen."""
    row = Campaign.objects.filter(status=Campaign.Status.CANCELLED).aggregate(
        campaigns=Count("pk", filter=Q(cost_lines__isnull=False), distinct=True),
        cost=Sum("cost_lines__amount"),
    )
    return CancelledCost(campaigns=row["campaigns"], cost=row["cost"] or Decimal("0"))
