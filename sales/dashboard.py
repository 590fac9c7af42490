"""The sales dashboard: funnel, breakdowns, money by month, sell-through, forecast.

Every figure is an aggregate query over indexed columns; the whole result is cached for
a few minutes per user scope and filter, and the page says how fresh it is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.core.cache import cache
from django.db.models import Count, DecimalField, F, Q, Sum, Value
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from crm_site.models import User
from crm_site.overview import one_user_per_scope, scope_key
from customers.models import Customer
from sales.models import Building, Opportunity, Project, Receipt, StageChange, Unit
from sales.overview import visits_in
from sales.services.sessions import projects_visible_to

CACHE_SECONDS = 300
FUNNEL_STEPS = [
    ("visits", _("Visits")),
    (Opportunity.Stage.RESERVED, _("Reservations")),
    (Opportunity.Stage.SUBSCRIBED, _("Subscriptions")),
    (Opportunity.Stage.CONTRACTED, _("Contracts")),
]
# Chance that an open deal at this stage ends in a contract, for the weighted forecast.
STAGE_WEIGHTS = {
    Opportunity.Stage.NEW: Decimal("0.05"),
    Opportunity.Stage.CONTACTED: Decimal("0.10"),
    Opportunity.Stage.VISITED: Decimal("0.20"),
    Opportunity.Stage.RESERVED: Decimal("0.50"),
    Opportunity.Stage.SUBSCRIBED: Decimal("0.80"),
    Opportunity.Stage.CONTRACTED: Decimal("1.00"),
}
MONEY = DecimalField(max_digits=18, decimal_places=2)


@dataclass
class Dashboard:
    start: date
    end: date
    computed_at: datetime
    funnel: list[dict] = field(default_factory=list)
    by_project: list[dict] = field(default_factory=list)
    by_consultant: list[dict] = field(default_factory=list)
    by_source: list[dict] = field(default_factory=list)
    months: list[dict] = field(default_factory=list)
    sell_through: list[dict] = field(default_factory=list)
    forecast: list[dict] = field(default_factory=list)
    forecast_total: Decimal = Decimal("0")


def _deals(user: User, project: Project | None):
    qs = Opportunity.objects.visible_to(user)
    return qs.filter(project=project) if project else qs


def _window(start: date, end: date) -> tuple[datetime, datetime]:
    tz = timezone.get_current_timezone()
    return (
        datetime.combine(start, time.min, tzinfo=tz),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz),
    )


# The funnel's deal steps, in order.
FUNNEL_STAGES = [step for step, _label in FUNNEL_STEPS[1:]]


def _deals_reaching(stage: str) -> Count:
    """Deals that reached the step or a later one in the period: a deal counts at
    every step up to the furthest it got, so no deal step converts more than the
    one above it. An opening-day selection subscribes without a reservation, and a
    deal reserved before the period may subscribe in it; a lost deal counts up to
    where it got. Deals, not moves: a deal reserved, released and reserved again
    counts once (as sales.overview.compute counts them)."""
    later = FUNNEL_STAGES[FUNNEL_STAGES.index(stage) :]
    return Count("opportunity_id", filter=Q(to_stage__in=later), distinct=True)


def _breakdown(changes, key: str, label_of) -> list[dict]:
    rows = (
        changes.values(key)
        .annotate(
            reserved=_deals_reaching(Opportunity.Stage.RESERVED),
            subscribed=_deals_reaching(Opportunity.Stage.SUBSCRIBED),
            contracted=_deals_reaching(Opportunity.Stage.CONTRACTED),
            amount=Coalesce(
                Sum(
                    "opportunity__agreed_price",
                    filter=Q(to_stage=Opportunity.Stage.CONTRACTED),
                ),
                Value(Decimal("0")),
                output_field=MONEY,
            ),
        )
        .order_by("-contracted", "-subscribed")
    )
    return [{**row, "label": label_of(row[key])} for row in rows[:50]]


def _cache_key(user: User, start: date, end: date, project: Project | None) -> str:
    raw = f"sales-dashboard:{get_language()}:{scope_key(user)}:{start}:{end}:{project.pk if project else ''}"
    return hashlib.sha256(raw.encode()).hexdigest()


def sales_dashboard(
    *, user: User, start: date, end: date, project: Project | None = None
) -> Dashboard:
    key = _cache_key(user, start, end, project)
    cached = cache.get(key)
    if cached is not None:
        return cached
    result = _compute(user=user, start=start, end=end, project=project)
    cache.set(key, result, CACHE_SECONDS)
    return result


def default_window() -> tuple[date, date]:
    """The period the dashboard opens on: the start of the month before last to today."""
    end = timezone.localdate()
    return end.replace(day=1) - timedelta(days=60), end


def warm(*, languages: tuple[str, ...] = ("zh-hans",)) -> int:
    """Precompute the default dashboard of every scope, so no manager waits for it."""
    from django.utils.translation import override

    from crm_site.roles import Role

    start, end = default_window()
    users = one_user_per_scope(
        [Role.SALES_MANAGER.value, Role.EXECUTIVE.value, Role.ADMINISTRATOR.value]
    )
    for user in users:
        for language in languages:
            with override(language):
                result = _compute(user=user, start=start, end=end, project=None)
                cache.set(_cache_key(user, start, end, None), result, CACHE_SECONDS)
    return len(users)


def _compute(
    *, user: User, start: date, end: date, project: Project | None
) -> Dashboard:
    since, until = _window(start, end)
    deals = _deals(user, project)
    # Only moves into the funnel's stages count: filtering on them first lets the
    # (to_stage, changed_at) index find a few thousand rows among hundreds of thousands.
    changes = StageChange.objects.filter(
        to_stage__in=FUNNEL_STAGES,
        changed_at__gte=since,
        changed_at__lt=until,
        opportunity__in=deals,
    )
    result = Dashboard(start=start, end=end, computed_at=timezone.now())

    counts = changes.aggregate(
        **{stage: _deals_reaching(stage) for stage in FUNNEL_STAGES}
    )
    # The overview's figure and the list behind it (sales.overview.visits_in):
    # visits of customers with a deal the reader may see, so the funnel's first step
    # is the same population as the steps after it, and the same number on both pages.
    counts["visits"] = visits_in(
        user=user,
        project_id=project.pk if project else None,
        first=start,
        stop=end + timedelta(days=1),
    ).aggregate(n=Count("customer_id"))["n"]
    previous = None
    for step, label in FUNNEL_STEPS:
        value = counts[step]
        rate = round(100 * value / previous, 1) if previous else None
        result.funnel.append(
            {"step": step, "label": str(label), "value": value, "rate": rate}
        )
        previous = value

    projects = dict(Project.objects.values_list("id", "name"))
    result.by_project = _breakdown(
        changes, "opportunity__project", lambda pk: projects.get(pk, "—")
    )
    consultant_ids = changes.values_list(
        "opportunity__consultant", flat=True
    ).distinct()
    names = {u.pk: u.display_name for u in User.objects.filter(pk__in=consultant_ids)}
    result.by_consultant = _breakdown(
        changes, "opportunity__consultant", lambda pk: names.get(pk, "—")
    )
    sources = dict(Customer.Source.choices)
    result.by_source = _breakdown(
        changes,
        "opportunity__customer__source",
        lambda value: str(sources.get(value, value)),
    )

    first_month = (end.replace(day=1) - timedelta(days=335)).replace(day=1)
    month_since, _ = _window(first_month, end)
    contracted = (
        StageChange.objects.filter(
            opportunity__in=deals,
            to_stage=Opportunity.Stage.CONTRACTED,
            changed_at__gte=month_since,
            changed_at__lt=until,
        )
        .annotate(month=TruncMonth("changed_at"))
        .values("month")
        .annotate(total=Sum("opportunity__agreed_price"))
    )
    collected = (
        Receipt.objects.filter(
            item__opportunity__in=deals,
            received_on__gte=first_month,
            received_on__lte=end,
        )
        .annotate(month=TruncMonth("received_on"))
        .values("month")
        .annotate(total=Sum("amount"))
    )
    by_month: dict[str, dict] = {}
    cursor = first_month
    while cursor <= end:
        by_month[cursor.strftime("%Y-%m")] = {
            "month": cursor.strftime("%Y-%m"),
            "contracted": Decimal("0"),
            "collected": Decimal("0"),
        }
        cursor = (cursor + timedelta(days=32)).replace(day=1)
    for row in contracted:
        month = timezone.localtime(row["month"]).strftime("%Y-%m")
        if month in by_month:
            by_month[month]["contracted"] = row["total"] or Decimal("0")
    for row in collected:
        month = row["month"].strftime("%Y-%m")
        if month in by_month:
            by_month[month]["collected"] = row["total"] or Decimal("0")
    result.months = list(by_month.values())

    # Only the projects the user sells: another team's building grid is a 404 to them.
    # The cache key's scope (crm_site.overview.scope_key) decides these projects too.
    buildings = (
        Building.objects.filter(project__in=projects_visible_to(user))
        .select_related("project")
        .annotate(
            total=Count("units", filter=~Q(units__status=Unit.Status.NOT_FOR_SALE)),
            sold=Count(
                "units",
                filter=Q(
                    units__status__in=[
                        Unit.Status.SUBSCRIBED,
                        Unit.Status.CONTRACTED,
                        Unit.Status.HANDED_OVER,
                    ]
                ),
            ),
            held=Count("units", filter=Q(units__status=Unit.Status.RESERVED)),
        )
    )
    if project is not None:
        buildings = buildings.filter(project=project)
    result.sell_through = [
        {
            "building": str(b),
            "url": b.get_absolute_url(),
            "total": b.total,
            "sold": b.sold,
            "held": b.held,
            "rate": round(100 * b.sold / b.total, 1) if b.total else 0,
        }
        for b in buildings.order_by("project__name", "name")
    ]

    open_rows = (
        deals.filter(stage__in=list(STAGE_WEIGHTS))
        .values("stage")
        .annotate(
            count=Count("id"),
            value=Coalesce(
                Sum(Coalesce(F("agreed_price"), F("unit__list_price"))),
                Value(Decimal("0")),
                output_field=MONEY,
            ),
        )
    )
    stage_labels = dict(Opportunity.Stage.choices)
    for row in sorted(open_rows, key=lambda r: list(STAGE_WEIGHTS).index(r["stage"])):
        weight = STAGE_WEIGHTS[row["stage"]]
        result.forecast.append(
            {
                "stage": str(stage_labels[row["stage"]]),
                "count": row["count"],
                "value": row["value"],
                "weight": int(weight * 100),
                "weighted": (row["value"] * weight).quantize(Decimal("1")),
            }
        )
    result.forecast_total = sum(
        (r["weighted"] for r in result.forecast), start=Decimal("0")
    )
    return result
