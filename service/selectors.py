"""Service reads that span models: contractors' scorecards, clusters, knowledge search.

Every figure is an aggregate query; nothing loops over work orders or requests in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import (
    Count,
    Exists,
    F,
    FloatField,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Cast, Coalesce, NullIf
from django.utils import timezone

from sales.models import Project
from service.models import (
    Article,
    Contractor,
    ServiceRequest,
    ServiceStep,
    WorkOrder,
)

DONE = WorkOrder.Status.DONE
# Weights of the contractor ranking score (0–100).
SCORE_WEIGHTS = {"on_time": 40, "not_reopened": 30, "satisfaction": 30}


def _ratio(numerator: str, denominator: str):
    return Cast(F(numerator), FloatField()) / NullIf(
        Cast(F(denominator), FloatField()), Value(0.0)
    )


def _reopened_after_work():
    """A reopening of the request (a callback sent it back to work) after sign-off."""
    return Exists(
        ServiceStep.objects.filter(
            request_id=OuterRef("request_id"),
            from_status__in=[
                ServiceRequest.Status.RESOLVED,
                ServiceRequest.Status.CALLED_BACK,
            ],
            to_status=ServiceRequest.Status.IN_PROGRESS,
            at__gt=OuterRef("signed_off_at"),
        )
    )


def contractor_scorecards(qs: QuerySet | None = None) -> QuerySet:
    """Contractors annotated with their scorecard, best first.

    on-time rate: signed-off work orders signed off by their due time;
    reopen rate: signed-off work orders whose request was reopened afterwards;
    satisfaction: requests they worked (signed off) whose callback was "satisfied",
    of those called back; score: the weighted sum (SCORE_WEIGHTS), 0–100.
    """
    qs = Contractor.objects.all() if qs is None else qs
    reopened = (
        WorkOrder.objects.filter(contractor_id=OuterRef("pk"), status=DONE)
        .filter(_reopened_after_work())
        .order_by()
        .values("contractor_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    done = Q(work_orders__status=DONE)
    return (
        qs.annotate(
            done_count=Count("work_orders", filter=done, distinct=True),
            pending_count=Count(
                "work_orders",
                filter=Q(work_orders__status__in=WorkOrder.PENDING),
                distinct=True,
            ),
            on_time_count=Count(
                "work_orders",
                filter=done
                & Q(work_orders__signed_off_at__lte=F("work_orders__due_at")),
                distinct=True,
            ),
            reopened_count=Coalesce(
                Subquery(reopened, output_field=IntegerField()), Value(0)
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
        )
        .annotate(
            on_time_rate=_ratio("on_time_count", "done_count"),
            reopen_rate=_ratio("reopened_count", "done_count"),
            satisfaction=_ratio("satisfied_count", "called_back"),
        )
        .annotate(
            score=SCORE_WEIGHTS["on_time"] * F("on_time_rate")
            + SCORE_WEIGHTS["not_reopened"] * (Value(1.0) - F("reopen_rate"))
            + SCORE_WEIGHTS["satisfaction"]
            * Coalesce(F("satisfaction"), F("on_time_rate"))
        )
        .order_by(F("score").desc(nulls_last=True), "name")
    )


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
