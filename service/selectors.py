"""Service reads that span models: contractors' scorecards, clusters, knowledge search.

Every figure is an aggregate query; nothing loops over work orders or requests in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import (
    Count,
    F,
    Q,
    QuerySet,
    Sum,
)
from django.utils import timezone

from sales.models import Project
from service.models import (
    Article,
    Contractor,
    ServiceRequest,
    WorkOrder,
)

DONE = WorkOrder.Status.DONE
# Weights of the contractor ranking score (0–100).
SCORE_WEIGHTS = {"on_time": 40, "not_reopened": 30, "satisfaction": 30}


def contractor_scorecards(qs: QuerySet | None = None) -> list[Contractor]:
    """Contractors with their scorecard, best first: one grouped query, then the
    rates and score of each contractor from its counts.

    on-time rate: signed-off work orders signed off by their due time;
    reopen rate: signed-off work orders whose request was reopened afterwards;
    satisfaction: requests they worked (signed off) whose callback was "satisfied",
    of those called back; score: the weighted sum (SCORE_WEIGHTS), 0–100, with the
    on-time rate standing in for satisfaction until someone was called back.
    """
    qs = Contractor.objects.all() if qs is None else qs
    done = Q(work_orders__status=DONE)
    contractors = list(
        qs.annotate(
            done_count=Count("work_orders", filter=done),
            pending_count=Count(
                "work_orders", filter=Q(work_orders__status__in=WorkOrder.PENDING)
            ),
            on_time_count=Count(
                "work_orders",
                filter=done
                & Q(work_orders__signed_off_at__lte=F("work_orders__due_at")),
            ),
            reopened_count=Count(
                "work_orders",
                filter=done
                & Q(
                    work_orders__request__reopened_at__gt=F(
                        "work_orders__signed_off_at"
                    )
                ),
            ),
            called_back=Count(
                "work_orders__request",
                filter=done & Q(work_orders__request__satisfied__isnull=False),
                distinct=True,
            ),
            satisfied_count=Count(
                "work_orders__request",
                filter=done & Q(work_orders__request__satisfied=True),
                distinct=True,
            ),
        ).order_by("name")
    )
    for contractor in contractors:
        _score(contractor)
    return sorted(contractors, key=lambda c: (c.score is None, -(c.score or 0), c.name))


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _score(c: Contractor) -> None:
    c.on_time_rate = _ratio(c.on_time_count, c.done_count)
    c.reopen_rate = _ratio(c.reopened_count, c.done_count)
    c.satisfaction = _ratio(c.satisfied_count, c.called_back)
    if c.on_time_rate is None:
        c.score = None
        return
    satisfaction = c.satisfaction if c.satisfaction is not None else c.on_time_rate
    c.score = (
        SCORE_WEIGHTS["on_time"] * c.on_time_rate
        + SCORE_WEIGHTS["not_reopened"] * (1 - c.reopen_rate)
        + SCORE_WEIGHTS["satisfaction"] * satisfaction
    )


RANKING_CACHE_SECONDS = 300


def _ranking_key(active_only: bool) -> str:
    return f"service-contractor-ranking:{int(active_only)}"


def contractor_ranking(*, active_only: bool = True) -> list[Contractor]:
    """The ranking page's scorecards, cached a few minutes like the dashboards (the
    grouped query reads every contractor's work); editing a contractor refreshes it."""
    key = _ranking_key(active_only)
    ranking = cache.get(key)
    if ranking is None:
        qs = Contractor.objects.all()
        ranking = contractor_scorecards(qs.filter(active=True) if active_only else qs)
        cache.set(key, ranking, RANKING_CACHE_SECONDS)
    return ranking


def contractor_ranking_forget() -> None:
    cache.delete_many([_ranking_key(True), _ranking_key(False)])


def contractor_money(contractor: Contractor) -> dict:
    """Total cost of its signed-off work and its chargebacks, due and recovered."""
    work = contractor.work_orders.filter(status=DONE).aggregate(cost=Sum("cost"))
    charged = contractor.chargebacks.aggregate(
        due=Sum("amount", filter=Q(status="due")),
        recovered=Sum("amount", filter=Q(status="recovered")),
    )
    return {"cost": work["cost"], **charged}


# Clusters ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Cluster:
    building_id: int
    building: str
    project: str
    category: str
    category_label: str
    units: int
    requests: int
    since: datetime
    until: datetime

    @property
    def list_query(self) -> str:
        return (
            f"view=all&building={self.building_id}&category={self.category}"
            f"&since={self.since:%Y-%m-%d}"
        )


def _cluster_rows(requests: QuerySet, min_units: int) -> QuerySet:
    return (
        requests.filter(unit__isnull=False)
        .order_by()
        .values(
            "unit__building_id",
            "unit__building__name",
            "unit__building__project__name",
            "category",
        )
        .annotate(units=Count("unit_id", distinct=True), requests=Count("id"))
        .filter(units__gte=min_units)
        .order_by("-units", "-requests")
    )


def clusters(
    *,
    until: datetime | None = None,
    days: int | None = None,
    min_units: int | None = None,
    project: Project | None = None,
) -> list[Cluster]:
    """Buildings where one category was reported in many units within the window
    (SERVICE_CLUSTER_DAYS before `until`): one grouped query."""
    until = until or timezone.now()
    days = days or settings.SERVICE_CLUSTER_DAYS
    min_units = min_units or settings.SERVICE_CLUSTER_MIN_UNITS
    since = until - timedelta(days=days)
    requests = ServiceRequest.objects.filter(
        received_at__gte=since, received_at__lt=until
    )
    if project is not None:
        requests = requests.filter(unit__building__project=project)
    labels = dict(ServiceRequest._meta.get_field("category").choices)
    return [
        Cluster(
            building_id=row["unit__building_id"],
            building=row["unit__building__name"],
            project=row["unit__building__project__name"],
            category=row["category"],
            category_label=str(labels.get(row["category"], row["category"])),
            units=row["units"],
            requests=row["requests"],
            since=since,
            until=until,
        )
        for row in _cluster_rows(requests, min_units)[:50]
    ]


def cluster_of(request: ServiceRequest) -> tuple[Cluster | None, list[ServiceRequest]]:
    """The cluster a request belongs to: the same category in its building within
    SERVICE_CLUSTER_DAYS either side of it, with the other requests (at most 20)."""
    if request.unit_id is None:
        return None, []
    days = settings.SERVICE_CLUSTER_DAYS
    window = timedelta(days=days)
    around = ServiceRequest.objects.filter(
        unit__building_id=request.unit.building_id,
        category=request.category,
        received_at__gte=request.received_at - window,
        received_at__lte=request.received_at + window,
    )
    row = (
        _cluster_rows(around, settings.SERVICE_CLUSTER_MIN_UNITS)
        .values("units", "requests")
        .first()
    )
    if row is None:
        return None, []
    cluster = Cluster(
        building_id=request.unit.building_id,
        building=request.unit.building.name,
        project=request.unit.building.project.name,
        category=request.category,
        category_label=str(request.get_category_display()),
        units=row["units"],
        requests=row["requests"],
        since=request.received_at - window,
        until=request.received_at + window,
    )
    others = list(
        around.exclude(pk=request.pk)
        .select_related("unit")
        .order_by("received_at", "pk")[:20]
    )
    return cluster, others


# Knowledge ---------------------------------------------------------------------------


def article_search(*, query: str = "", category: str = "") -> QuerySet:
    articles = Article.objects.all()
    if category:
        articles = articles.filter(category=category)
    for word in query.lower().split()[:5]:
        articles = articles.filter(search_text__ilike=word)
    return articles.annotate(use_count=Count("uses")).order_by(
        "-use_count", "-updated_at", "-pk"
    )


def articles_suggested(request: ServiceRequest, *, limit: int = 5) -> list[Article]:
    """Articles of the request's category not yet linked to it, most used first."""
    return list(
        article_search(category=request.category).exclude(uses__request=request)[:limit]
    )


# One-stop intake: finding the caller ------------------------------------------------

#: Callers a name search shows at most (the best-ranked matches).
CALLER_MATCHES = 8


@dataclass
class CallerLookup:
    """What the intake form found for the text typed: the customers it may offer,
    each with the number as this user may see it and their units, and the one picked."""

    text: str
    #: The text as a full E.164 number, when it is one.
    mobile: str | None
    matches: list
    picked: object | None

    @property
    def new_caller(self) -> bool:
        """A full number nobody has: the caller is registered when the request is."""
        return self.mobile is not None and not self.matches


def caller_lookup(*, user, text: str, picked_id: int | None = None) -> CallerLookup:
    """The caller by mobile or name, for whoever takes the call (首问负责制).

    A full mobile number finds its customer whatever their owner or stage: the first
    receiver records for every caller. The number shown follows the masking rules, so
    a consultant does not learn another consultant's customer's number. A name (or
    part of a number) is searched within the user's own scope only, on the search
    indexes (customers.querysets.search_ids). A single match is picked at once.
    Queries: the lookup's own few, and one for every match's units.
    """
    from customers.models import Customer
    from customers.phones import number_text, try_normalize_phone
    from customers.querysets import PHONE_LIKE
    from customers.services import customer_find_by_phone
    from service.services import is_owner, units_owned_by

    text = number_text(" ".join(text.split())[:100])
    mobile = None
    if PHONE_LIKE.fullmatch(text) and sum(ch.isdigit() for ch in text) >= 7:
        mobile = try_normalize_phone(text)
    if mobile:
        found = customer_find_by_phone(mobile)
        matches = [found] if found is not None and not found.is_anonymised else []
    elif text:
        matches = list(
            Customer.objects.visible_to(user)
            .search(text, user=user)
            .ranked()
            .select_related(None)[:CALLER_MATCHES]
        )
    else:
        matches = []
    owned = units_owned_by([customer.pk for customer in matches])
    for customer in matches:
        customer.mobile_display = customer.mobile_for(user)
        customer.owned_units = owned.get(customer.pk, [])
        customer.owns = is_owner(customer, customer.owned_units)
    picked = next((c for c in matches if c.pk == picked_id), None)
    if picked is None and picked_id is None and len(matches) == 1:
        picked = matches[0]
    return CallerLookup(text=text, mobile=mobile, matches=matches, picked=picked)
