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

from sales.dashboard import _window, default_window
from sales.models import Building, Project
from service.mailbox import letter_figures
from service.models import ServiceRequest, overdue_q
from service.selectors import Cluster, clusters, contractor_ranking

CACHE_SECONDS = 300
RESOLVED_SO_FAR = (
    ServiceRequest.Status.RESOLVED,
    ServiceRequest.Status.CALLED_BACK,
    ServiceRequest.Status.CLOSED,
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
    # The owners' letters to the general manager (service.mailbox.LetterFigures).
    letters: object = None


def _hours(duration: timedelta | None) -> float | None:
    return round(duration.total_seconds() / 3600, 1) if duration is not None else None


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _bars(rows: list[tuple], total: int, limit: int = 20) -> list[dict]:
    """(key, label, count) rows with each one's share, widest bar first."""
    ranked = sorted((row for row in rows if row[2]), key=lambda row: -row[2])
    return [
        {
            "key": key,
            "label": label,
            "count": count,
            "share": _percent(count, total) or 0,
        }
        for key, label, count in ranked[:limit]
    ]


def _by_place(period, received: int) -> tuple[list[dict], list[dict]]:
    """Requests by building and by project from one grouped query (by building); the
    few buildings' names come from a small query, and requests without a unit count
    under "no unit recorded"."""
    counts = dict(
        period.filter(unit__isnull=False)
        .order_by()
        .values("unit__building_id")
        .annotate(count=Count("id"))
        .values_list("unit__building_id", "count")
    )
    buildings = Building.objects.select_related("project").in_bulk(list(counts))
    projects: dict = {}
    for pk, count in counts.items():
        project = buildings[pk].project
        key, label, total = projects.get(project.pk, (project.pk, project.name, 0))
        projects[project.pk] = (key, label, total + count)
    without_unit = received - sum(counts.values())
    project_rows = [*projects.values(), (None, _("No unit recorded"), without_unit)]
    building_rows = [
        (pk, f"{buildings[pk].project.name} {buildings[pk].name}", count)
        for pk, count in counts.items()
    ]
    return _bars(building_rows, received), _bars(project_rows, received)


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


def warm(*, languages: tuple[str, ...] = ("zh-hans",)) -> int:
    """Precompute the default period for all projects and for each one, so managers
    opening the dashboard do not wait (beat runs it more often than the cache expires)."""
    from django.utils.translation import override

    start, end = default_window()
    projects = [None, *Project.objects.order_by("pk")]
    for language in languages:
        with override(language):
            for project in projects:
                result = compute(start=start, end=end, project=project)
                cache.set(_cache_key(start, end, project), result, CACHE_SECONDS)
    return len(projects)


def compute(*, start: date, end: date, project: Project | None) -> ServiceDashboard:
    since, until = _window(start, end)
    now = timezone.now()
    all_requests = ServiceRequest.objects.all()
    if project is not None:
        all_requests = all_requests.filter(unit__building__project=project)
    period = all_requests.filter(received_at__gte=since, received_at__lt=until)
    result = ServiceDashboard(start=start, end=end, computed_at=now)

    categories = dict(ServiceRequest._meta.get_field("category").choices)
    # One pass over the period: the figures and the count of every category.
    # Resolved and still so: a request the owner was not satisfied with is back in
    # the queue (its resolved_at is its last resolution's, set again when it is).
    done = Q(resolved_at__isnull=False, status__in=RESOLVED_SO_FAR)
    figures = period.aggregate(
        received=Count("id"),
        resolved=Count("id", filter=done),
        in_time=Count("id", filter=done & Q(resolved_at__lte=F("resolution_due"))),
        reopened=Count("id", filter=Q(reopen_count__gt=0)),
        from_portal=Count("id", filter=Q(channel=ServiceRequest.Channel.PORTAL)),
        called_back=Count("id", filter=Q(satisfied__isnull=False)),
        respond=Avg(F("responded_at") - F("received_at")),
        resolve=Avg(F("resolved_at") - F("received_at"), filter=done),
        **{
            f"category_{value}": Count("id", filter=Q(category=value))
            for value in categories
        },
    )
    live = all_requests.filter(status__in=ServiceRequest.OPEN).aggregate(
        open=Count("id"),
        overdue=Count("id", filter=overdue_q(now)),
        to_accept=Count(
            "id",
            filter=Q(channel=ServiceRequest.Channel.PORTAL, receiver__isnull=True),
        ),
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
    result.by_category = _bars(
        [
            (value, str(label), figures[f"category_{value}"])
            for value, label in categories.items()
        ],
        received,
    )
    result.by_building, result.by_project = _by_place(period, received)
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
    result.letters = letter_figures(
        since=since, until=until, project_id=project.pk if project else None, now=now
    )
    return result
