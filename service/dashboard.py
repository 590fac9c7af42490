"""The service dashboard: load by category, project and building, open and overdue
work, response and resolution times, deadline compliance, reopen rate, contractors,
clusters.

Every figure is an aggregate query over indexed columns; the result is cached for a few
minutes per filter (all service managers see the same requests) and the page says how
fresh it is, as the sales dashboard does.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.core.cache import cache
from django.db.models import Avg, Count, F, Q
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from sales.dashboard import _window
from sales.models import Project
from service.models import ServiceRequest
from service.selectors import Cluster, clusters, contractor_ranking

CACHE_SECONDS = 300
WORKING = (
    ServiceRequest.Status.RECEIVED,
    ServiceRequest.Status.ASSIGNED,
    ServiceRequest.Status.IN_PROGRESS,
)


@dataclass
class ServiceDashboard:
    start: date
    end: date
    computed_at: datetime
    totals: dict = field(default_factory=dict)
    by_category: list[dict] = field(default_factory=list)
    by_project: list[dict] = field(default_factory=list)
    by_building: list[dict] = field(default_factory=list)
    contractors: list[dict] = field(default_factory=list)
    clusters: list[Cluster] = field(default_factory=list)
    satisfaction: list = field(default_factory=list)


def _hours(duration: timedelta | None) -> float | None:
    return round(duration.total_seconds() / 3600, 1) if duration is not None else None


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _bars(rows, key: str, label_of, total: int) -> list[dict]:
    """Rows of a breakdown with each one's share, widest bar first."""
    return [
        {
            "label": label_of(row),
            "key": row[key],
            "count": row["count"],
            "share": _percent(row["count"], total) or 0,
        }
        for row in rows
    ]


def satisfaction_by_project(project: Project | None) -> list:
    """The slot for the satisfaction index over time by project (issue 6, surveys):
    filled once service.surveys exists."""
    try:
        from service.surveys import satisfaction_by_month
    except ImportError:
        return []
    return satisfaction_by_month(
        projects=[project] if project is not None else None, months=12
    )


def _cache_key(start: date, end: date, project: Project | None) -> str:
    raw = f"service-dashboard:{get_language()}:{start}:{end}:{project.pk if project else ''}"
    return hashlib.sha256(raw.encode()).hexdigest()


def service_dashboard(
    *, start: date, end: date, project: Project | None = None
) -> ServiceDashboard:
    key = _cache_key(start, end, project)
    cached = cache.get(key)
    if cached is not None:
        return cached
    result = compute(start=start, end=end, project=project)
    cache.set(key, result, CACHE_SECONDS)
    return result


def compute(*, start: date, end: date, project: Project | None) -> ServiceDashboard:
    since, until = _window(start, end)
    now = timezone.now()
    all_requests = ServiceRequest.objects.all()
    if project is not None:
        all_requests = all_requests.filter(unit__building__project=project)
    period = all_requests.filter(received_at__gte=since, received_at__lt=until)
    result = ServiceDashboard(start=start, end=end, computed_at=now)

    figures = period.aggregate(
        received=Count("id"),
        resolved=Count("id", filter=Q(resolved_at__isnull=False)),
        in_time=Count("id", filter=Q(resolved_at__lte=F("resolution_due"))),
        reopened=Count("id", filter=Q(reopen_count__gt=0)),
        called_back=Count("id", filter=Q(satisfied__isnull=False)),
        respond=Avg(F("responded_at") - F("received_at")),
        resolve=Avg(F("resolved_at") - F("received_at")),
    )
    live = all_requests.filter(status__in=ServiceRequest.OPEN).aggregate(
        open=Count("id"),
        overdue=Count("id", filter=Q(status__in=WORKING, resolution_due__lt=now)),
    )
    result.totals = {
        **figures,
        **live,
        "respond_hours": _hours(figures["respond"]),
        "resolve_hours": _hours(figures["resolve"]),
        "compliance": _percent(figures["in_time"], figures["resolved"]),
        "reopen_rate": _percent(figures["reopened"], figures["called_back"]),
    }
    received = figures["received"]
    categories = dict(ServiceRequest._meta.get_field("category").choices)
    result.by_category = _bars(
        period.order_by()
        .values("category")
        .annotate(count=Count("id"))
        .order_by("-count"),
        "category",
        lambda row: str(categories.get(row["category"], row["category"])),
        received,
    )
    result.by_project = _bars(
        period.order_by()
        .values("unit__building__project_id", "unit__building__project__name")
        .annotate(count=Count("id"))
        .order_by("-count")[:20],
        "unit__building__project_id",
        lambda row: row["unit__building__project__name"] or _("No unit recorded"),
        received,
    )
    result.by_building = _bars(
        period.filter(unit__isnull=False)
        .order_by()
        .values(
            "unit__building_id",
            "unit__building__name",
            "unit__building__project__name",
        )
        .annotate(count=Count("id"))
        .order_by("-count")[:20],
        "unit__building_id",
        lambda row: (
            f"{row['unit__building__project__name']} {row['unit__building__name']}"
        ),
        received,
    )
    result.contractors = [
        {
            "name": c.name,
            "url": c.get_absolute_url(),
            "trade": c.trade,
            "done": c.done_count,
            "on_time": _percent(c.on_time_count, c.done_count),
            "reopen": _percent(c.reopened_count, c.done_count),
            "satisfaction": _percent(c.satisfied_count, c.called_back),
            "score": round(c.score, 1) if c.score is not None else None,
        }
        for c in contractor_ranking(active_only=True)[:10]
    ]
    result.clusters = clusters(until=min(until, now), project=project)
    result.satisfaction = satisfaction_by_project(project)
    return result
