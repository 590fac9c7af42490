"""The managers' overview (首页总览): today and a period at a glance, each figure a link.

Visits, subscriptions, contracts and collections; open and overdue service requests;
satisfaction; top campaigns. A handful of aggregate queries over indexed columns
(visits by the partial index on visit days, stage changes by (to_stage, changed_at),
receipts by day, open requests by status); the result is cached for a minute per
scope, project, period and language, like sales/dashboard.py does for five.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.core.cache import cache
from django.db.models import Count, DecimalField, Exists, OuterRef, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from crm_site.models import User
from customers.models import Interaction
from marketing.models import Campaign
from marketing.selectors import campaign_returns
from sales.dashboard import one_user_per_scope, scope_key
from sales.models import Opportunity, Project, Receipt, StageChange
from service.models import ServiceRequest, SurveyResponse
from service.surveys import satisfaction_index_for

logger = logging.getLogger(__name__)

CACHE_SECONDS = 60
# Figures of the days before today change rarely (a receipt recorded late): a quarter
# of an hour of staleness for them buys a fast page on the first request of a minute.
HISTORY_SECONDS = 900
MONEY = DecimalField(max_digits=18, decimal_places=2)
PERIODS = {
    "week": _("This week"),
    "month": _("This month"),
    "last_month": _("Last month"),
    "quarter": _("This quarter"),
    "year": _("This year"),
}
DEFAULT_PERIOD = "month"
WORKING = (
    ServiceRequest.Status.RECEIVED,
    ServiceRequest.Status.ASSIGNED,
    ServiceRequest.Status.IN_PROGRESS,
)


def may_see_overview(user: User) -> bool:
    """Executives and managers land on the overview; everyone else keeps their home."""
    return any(
        user.has_perm(perm)
        for perm in (
            "customers.scope_all",
            "sales.view_sales_management",
            "service.view_service_management",
        )
    )


def period_window(period: str, today: date) -> tuple[date, date]:
    """The first and last day of a named period containing today (last month: before)."""
    if period == "week":
        return today - timedelta(days=today.weekday()), today
    if period == "last_month":
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    if period == "quarter":
        return today.replace(month=3 * ((today.month - 1) // 3) + 1, day=1), today
    if period == "year":
        return today.replace(month=1, day=1), today
    return today.replace(day=1), today


def _moment(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


@dataclass
class Overview:
    period: str
    start: date
    end: date
    today: date
    computed_at: datetime
    # {"visits": {"today": n, "period": n}, ...}
    sales: dict = field(default_factory=dict)
    service: dict = field(default_factory=dict)
    satisfaction: dict = field(default_factory=dict)
    campaigns: list = field(default_factory=list)


def _cache_key(user: User, project: Project | None, period: str, today: date) -> str:
    raw = (
        f"overview:{get_language()}:{scope_key(user)}:"
        f"{project.pk if project else ''}:{period}:{today}"
    )
    return hashlib.sha256(raw.encode()).hexdigest()


def overview(*, user: User, project: Project | None, period: str) -> Overview:
    today = timezone.localdate()
    key = _cache_key(user, project, period, today)
    cached = cache.get(key)
    if cached is not None:
        return cached
    result = compute(user=user, project=project, period=period, today=today)
    cache.set(key, result, CACHE_SECONDS)
    return result


def warm(*, languages: tuple[str, ...] = ("zh-hans",)) -> int:
    """Recompute the default overview (all projects, this month) of every scope, so
    the first manager of the minute does not wait for it. Beat runs it each minute."""
    from django.utils.translation import override

    from crm_site.roles import Role

    today = timezone.localdate()
    users = one_user_per_scope(
        [
            Role.EXECUTIVE.value,
            Role.SALES_MANAGER.value,
            Role.SERVICE_MANAGER.value,
            Role.ADMINISTRATOR.value,
        ]
    )
    for user in users:
        for language in languages:
            with override(language):
                result = compute(
                    user=user, project=None, period=DEFAULT_PERIOD, today=today
                )
                cache.set(
                    _cache_key(user, None, DEFAULT_PERIOD, today),
                    result,
                    CACHE_SECONDS,
                )
    return len(users)


def compute(
    *, user: User, project: Project | None, period: str, today: date
) -> Overview:
    start, end = period_window(period, today)
    result = Overview(
        period=period,
        start=start,
        end=end,
        today=today,
        computed_at=timezone.now(),
    )
    result.sales = _sales(user, project, today, start, end)
    result.service = _service(project, timezone.now())
    result.satisfaction = _satisfaction(
        project, _moment(start), _moment(end + timedelta(days=1))
    )
    result.campaigns = _top_campaigns(project, start, end)
    return result


def _deal_filter(user: User, project: Project | None, prefix: str) -> Q:
    """The user's scope and the project as conditions on a deal reached through
    `prefix` ("opportunity__", "item__opportunity__"): joins from the few rows of the
    period to their deals, rather than an IN over every deal of the scope."""
    conditions = Q()
    scope = scope_key(user)
    if scope.startswith("team"):
        conditions &= Q(**{f"{prefix}consultant__team_id": user.team_id})
    elif scope != "all":
        conditions &= Q(**{f"{prefix}consultant_id": user.pk})
    if project is not None:
        conditions &= Q(**{f"{prefix}project_id": project.pk})
    return conditions


SALES_FIGURES = (
    "visits",
    "subscribeds",
    "contracteds",
    "contract_value",
    "collections",
)


def _sales_between(
    user: User, project: Project | None, first: date, stop: date
) -> dict:
    """Sales figures of the days first <= day < stop: three aggregate queries."""
    since, until = _moment(first), _moment(stop)
    visits = Interaction.objects.filter(
        kind=Interaction.Kind.VISIT, occurred_at__gte=since, occurred_at__lt=until
    )
    if scope_key(user) != "all" or project is not None:
        # Of customers with a deal in the scope (and project): a semi-join PostgreSQL
        # runs as one hash of those customers.
        visits = visits.filter(
            Exists(
                Opportunity.objects.filter(
                    _deal_filter(user, project, ""), customer_id=OuterRef("customer_id")
                )
            )
        )
    changes = StageChange.objects.filter(
        _deal_filter(user, project, "opportunity__"),
        to_stage__in=[Opportunity.Stage.SUBSCRIBED, Opportunity.Stage.CONTRACTED],
        changed_at__gte=since,
        changed_at__lt=until,
    ).aggregate(
        subscribeds=Count("id", filter=Q(to_stage=Opportunity.Stage.SUBSCRIBED)),
        contracteds=Count("id", filter=Q(to_stage=Opportunity.Stage.CONTRACTED)),
        contract_value=Coalesce(
            Sum(
                "opportunity__agreed_price",
                filter=Q(to_stage=Opportunity.Stage.CONTRACTED),
            ),
            Value(Decimal("0")),
            output_field=MONEY,
        ),
    )
    collections = Receipt.objects.filter(
        _deal_filter(user, project, "item__opportunity__"),
        received_on__gte=first,
        received_on__lt=stop,
    ).aggregate(total=Coalesce(Sum("amount"), Value(Decimal("0")), output_field=MONEY))[
        "total"
    ]
    return {
        # Counting customer_id, which the partial visit index includes, lets
        # PostgreSQL answer from the index alone (no heap visits).
        "visits": visits.aggregate(n=Count("customer_id"))["n"],
        **changes,
        "collections": collections,
    }


def _history(user: User, project: Project | None, first: date, stop: date) -> dict:
    """Figures of past days, cached longer than the page (HISTORY_SECONDS): only
    today's figures are recomputed each minute, which keeps a cold page fast even
    for a year of one project."""
    if first >= stop:
        return dict.fromkeys(SALES_FIGURES, 0)
    raw = f"overview-history:{scope_key(user)}:{project.pk if project else ''}:{first}:{stop}"
    key = hashlib.sha256(raw.encode()).hexdigest()
    cached = cache.get(key)
    if cached is None:
        cached = _sales_between(user, project, first, stop)
        cache.set(key, cached, HISTORY_SECONDS)
    return cached


def _sales(
    user: User, project: Project | None, today: date, start: date, end: date
) -> dict:
    """{"visits": {"today": n, "period": n}, ...}: the period is its past days (cached)
    plus today when the period includes it."""
    tomorrow = today + timedelta(days=1)
    live = _sales_between(user, project, today, tomorrow)
    past = _history(user, project, start, min(end + timedelta(days=1), today))
    includes_today = start <= today <= end
    return {
        name: {
            "today": live[name],
            "period": past[name] + (live[name] if includes_today else 0),
        }
        for name in SALES_FIGURES
    }


def _requests(project: Project | None):
    qs = ServiceRequest.objects.all()
    return qs.filter(unit__building__project=project) if project else qs


def _service(project: Project | None, now: datetime) -> dict:
    return (
        _requests(project)
        .filter(status__in=ServiceRequest.OPEN)
        .aggregate(
            open=Count("id"),
            overdue=Count("id", filter=Q(status__in=WORKING, resolution_due__lt=now)),
        )
    )


def _satisfaction(project: Project | None, since: datetime, until: datetime) -> dict:
    """The satisfaction index (0–100) of the surveys answered in the period."""
    answers = SurveyResponse.objects.filter(
        submitted_at__gte=since, submitted_at__lt=until
    )
    if project is not None:
        answers = answers.filter(project=project)
    stats = answers.aggregate(answered=Count("id"))
    return {
        "value": satisfaction_index_for(answers) if stats["answered"] else None,
        "answered": stats["answered"],
    }


TOP_CAMPAIGNS = 5


def _top_campaigns(project: Project | None, start: date, end: date) -> list[dict]:
    """The campaigns running during the period, ranked by the value they contracted."""
    campaigns = Campaign.objects.exclude(status=Campaign.Status.CANCELLED).filter(
        starts_on__lte=end, ends_on__gte=start
    )
    if project is not None:
        campaigns = campaigns.filter(project=project)
    campaigns = list(campaigns.only("id", "name").order_by("-starts_on", "-id")[:200])
    figures = campaign_returns(campaign_ids=[c.pk for c in campaigns])
    ranked = sorted(
        campaigns,
        key=lambda c: (figures[c.pk].contracted_value, figures[c.pk].responses),
        reverse=True,
    )[:TOP_CAMPAIGNS]
    return [
        {
            "name": c.name,
            "url": reverse("marketing:campaign-detail", args=[c.pk]),
            "figures": figures[c.pk],
        }
        for c in ranked
    ]
