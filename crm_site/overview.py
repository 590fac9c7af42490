"""The managers' overview (首页总览): a registry of figures, each compared and a link.

Each app registers a section in its ``AppConfig.ready()`` (``register``): its figures
(a key such as ``sales.contracts``, a label, whether it is money), a function that
computes them for a window of days, another that gives, for the same window, the URL
of the filtered list that yields exactly the rows counted, and the permission that
shows the section. ``crm_site`` imports none of the apps: it asks the registry.

Every figure of a period is shown with the same days of the previous period (▲/▼, the
change and the previous value) and with its target (``crm_site.models.Target``, set in
the admin per figure key, month and optionally project and team) when one is set.

Figures of past days change rarely (a receipt recorded late), so each window of past
days is cached for HISTORY_SECONDS and only today's figures are recomputed; the whole
page is cached for a minute per scope, project, period and language.
"""

from __future__ import annotations

import calendar
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from crm_site.models import Target, User

logger = logging.getLogger(__name__)

CACHE_SECONDS = 60
# Figures of the days before today change rarely (a receipt recorded late): a quarter
# of an hour of staleness for them buys a fast page on the first request of a minute.
HISTORY_SECONDS = 900
PERIODS = {
    "week": _("This week"),
    "month": _("This month"),
    "last_month": _("Last month"),
    "quarter": _("This quarter"),
    "year": _("This year"),
}
DEFAULT_PERIOD = "month"
# A target is set per month; a week has none.
MONTHLY_PERIODS = ("month", "last_month", "quarter", "year")
MONTHS_BACK = {"month": 1, "last_month": 1, "quarter": 3, "year": 12}


# --- The registry -------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One figure of a section. ``key`` names it for targets (``sales.contracts``)."""

    key: str
    label: Any
    money: bool = False
    # Summing the days gives the period (counts and sums): past days are cached apart.
    additive: bool = True
    # A count of now (open requests): no period, so no previous period either.
    now: bool = False
    # Overdue requests: fewer is better (a rise is shown red, the target is a ceiling).
    lower_is_better: bool = False
    decimals: int = 0


@dataclass(frozen=True)
class Scope:
    """Whose figures: the user (their deals' scope) and the project filter."""

    user: User
    project_id: int | None
    key: str


@dataclass(frozen=True)
class Section:
    key: str
    label: Any
    permission: str
    figures: tuple[Figure, ...] = ()
    # (scope, first, stop, keys) -> {figure key: value} of the days first <= d < stop.
    compute: Callable[..., dict[str, Any]] | None = None
    # (scope) -> {figure key: value} of the figures of now.
    current: Callable[..., dict[str, Any]] | None = None
    # (scope, start, end) -> {figure key: URL of the list behind it}; end inclusive.
    links: Callable[..., dict[str, str]] | None = None
    # An extra block under the figures (the top campaigns): template and its data.
    template: str | None = None
    extra: Callable[..., Any] | None = None
    order: int = 50


_SECTIONS: dict[str, Section] = {}
_PROJECTS: list[Callable[[], list[tuple[int, str]]]] = []


def register(section: Section) -> None:
    """Add (or replace, on a second ready()) an app's section of the overview."""
    _SECTIONS[section.key] = section


def register_projects(choices: Callable[[], list[tuple[int, str]]]) -> None:
    """The project filter's choices, as (pk, name): given by the app owning projects."""
    if choices not in _PROJECTS:
        _PROJECTS.append(choices)


def sections() -> list[Section]:
    return sorted(_SECTIONS.values(), key=lambda s: (s.order, s.key))


def figures() -> dict[str, Figure]:
    """Every registered figure by key: the choices of a target's figure."""
    return {f.key: f for s in sections() for f in s.figures}


def figure_choices() -> list[tuple[str, str]]:
    return [(f.key, f"{s.label} · {f.label}") for s in sections() for f in s.figures]


def project_choices() -> list[tuple[int, str]]:
    return [choice for provider in _PROJECTS for choice in provider()]


# --- Scope and periods ----------------------------------------------------------------


def scope_key(user: User) -> str:
    """Deals visible to a user depend on their scope only: one computation serves all
    managers of a team, and one all executives."""
    if user.has_perm("customers.scope_all"):
        return "all"
    if user.has_perm("sales.view_sales_management") and user.team_id:
        return f"team{user.team_id}"
    return f"user{user.pk}"


def one_user_per_scope(roles: list[str]) -> list[User]:
    """A user of each scope among the active holders of these roles: what a warm-up
    computes for, once per scope."""
    seen: dict[str, User] = {}
    for user in User.objects.filter(is_active=True, groups__name__in=roles).distinct():
        seen.setdefault(scope_key(user), user)
    return list(seen.values())


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


def _months_before(day: date, months: int) -> date:
    """The same day ``months`` earlier, the last of the month when that one is shorter."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def previous_window(period: str, start: date, end: date) -> tuple[date, date]:
    """The same days of the period before: this month to the 15th against last month
    to the 15th, last month against the whole month before it."""
    if period == "week":
        return start - timedelta(days=7), end - timedelta(days=7)
    months = MONTHS_BACK.get(period, 1)
    first = _months_before(start, months)
    if period == "last_month":
        return first, start - timedelta(days=1)
    return first, min(_months_before(end, months), start - timedelta(days=1))


def moment(day: date) -> datetime:
    """The start of a day in the site's time zone."""
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def months_of(start: date, end: date) -> list[date]:
    """The first days of the months from start's to end's."""
    months, month = [], start.replace(day=1)
    while month <= end:
        months.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return months


# --- What the page shows --------------------------------------------------------------


@dataclass
class FigureValue:
    figure: Figure
    value: Any
    today: Any = None
    previous: Any = None
    target: Decimal | None = None
    url: str = ""

    @property
    def change(self) -> Any:
        if self.previous is None or self.value is None:
            return None
        return self.value - self.previous

    @property
    def direction(self) -> str:
        change = self.change
        if change is None:
            return ""
        return "up" if change > 0 else "down" if change < 0 else "same"

    @property
    def good(self) -> bool | None:
        """Whether the change is good news (a rise, or a fall of a lower-is-better)."""
        if self.direction in ("", "same"):
            return None
        return (self.direction == "up") != self.figure.lower_is_better

    @property
    def change_abs(self) -> Any:
        change = self.change
        return None if change is None else abs(change)

    @property
    def target_percent(self) -> int | None:
        if self.target is None or self.value is None or not self.target:
            return None
        return int(Decimal(self.value) * 100 / self.target)

    @property
    def target_met(self) -> bool | None:
        if self.target is None or self.value is None:
            return None
        if self.figure.lower_is_better:
            return self.value <= self.target
        return self.value >= self.target


@dataclass
class SectionValues:
    section: Section
    values: list[FigureValue]
    extra: Any = None


@dataclass
class Overview:
    period: str
    start: date
    end: date
    previous_start: date
    previous_end: date
    today: date
    computed_at: datetime
    # {figure key: {"value": v, "today": v, "previous": v}}
    raw: dict = field(default_factory=dict)
    targets: dict = field(default_factory=dict)
    extras: dict = field(default_factory=dict)
    section_keys: tuple[str, ...] = ()

    def value(self, key: str) -> Any:
        return self.raw[key]["value"]

    def sections_for(self, scope: Scope) -> list[SectionValues]:
        """The sections of the page in order, each figure with its link (no query)."""
        result = []
        for section in sections():
            if section.key not in self.section_keys:
                continue
            links = section.links(scope, self.start, self.end) if section.links else {}
            result.append(
                SectionValues(
                    section=section,
                    values=[
                        FigureValue(
                            figure=figure,
                            url=links.get(figure.key, ""),
                            target=self.targets.get(figure.key),
                            **self.raw[figure.key],
                        )
                        for figure in section.figures
                    ],
                    extra=self.extras.get(section.key),
                )
            )
        return result


def visible_sections(user: User) -> list[Section]:
    return [s for s in sections() if user.has_perm(s.permission)]


def _cache_key(
    user: User, project_id: int | None, period: str, today: date, keys: list[str]
) -> str:
    raw = (
        f"overview:{get_language()}:{scope_key(user)}:{','.join(keys)}:"
        f"{project_id or ''}:{period}:{today}"
    )
    return hashlib.sha256(raw.encode()).hexdigest()


def overview(*, user: User, project_id: int | None, period: str) -> Overview:
    today = timezone.localdate()
    shown = visible_sections(user)
    key = _cache_key(user, project_id, period, today, [s.key for s in shown])
    cached = cache.get(key)
    if cached is not None:
        return cached
    result = compute(user=user, project_id=project_id, period=period, today=today)
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
        keys = [s.key for s in visible_sections(user)]
        for language in languages:
            with override(language):
                result = compute(
                    user=user, project_id=None, period=DEFAULT_PERIOD, today=today
                )
                cache.set(
                    _cache_key(user, None, DEFAULT_PERIOD, today, keys),
                    result,
                    CACHE_SECONDS,
                )
    return len(users)


def compute(
    *, user: User, project_id: int | None, period: str, today: date
) -> Overview:
    start, end = period_window(period, today)
    previous_start, previous_end = previous_window(period, start, end)
    scope = Scope(user=user, project_id=project_id, key=scope_key(user))
    shown = visible_sections(user)
    result = Overview(
        period=period,
        start=start,
        end=end,
        previous_start=previous_start,
        previous_end=previous_end,
        today=today,
        computed_at=timezone.now(),
        section_keys=tuple(s.key for s in shown),
    )
    for section in shown:
        result.raw.update(
            _section_figures(
                section, scope, today, start, end, previous_start, previous_end
            )
        )
        if section.extra is not None:
            result.extras[section.key] = section.extra(scope, start, end)
    result.targets = _targets(scope, period, start, end, shown)
    return result


def _section_figures(
    section: Section,
    scope: Scope,
    today: date,
    start: date,
    end: date,
    previous_start: date,
    previous_end: date,
) -> dict[str, dict]:
    """{key: {"value", "today", "previous"}} of one section's figures."""
    additive = {f.key for f in section.figures if f.additive and not f.now}
    whole = {f.key for f in section.figures if not f.additive and not f.now}
    now = {f.key for f in section.figures if f.now}
    tomorrow = today + timedelta(days=1)
    stop = end + timedelta(days=1)
    raw: dict[str, dict] = {}
    if additive or whole:
        previous = _history(
            section,
            scope,
            previous_start,
            previous_end + timedelta(days=1),
            additive | whole,
        )
    if additive:
        live = section.compute(scope, today, tomorrow, additive)
        past = _history(section, scope, start, min(stop, today), additive)
        includes_today = start <= today <= end
        for key in additive:
            raw[key] = {
                "today": live[key],
                "value": past[key] + (live[key] if includes_today else 0),
                "previous": previous[key],
            }
    if whole:
        values = section.compute(scope, start, stop, whole)
        for key in whole:
            raw[key] = {"value": values[key], "previous": previous[key]}
    if now:
        values = section.current(scope)
        for key in now:
            raw[key] = {"value": values[key]}
    return raw


def _history(
    section: Section, scope: Scope, first: date, stop: date, keys: set[str]
) -> dict:
    """Figures of past days, cached longer than the page (HISTORY_SECONDS): only
    today's figures are recomputed each minute, which keeps a cold page fast even
    for a year of one project."""
    if first >= stop:
        return dict.fromkeys(keys, 0)
    raw = (
        f"overview-history:{section.key}:{scope.key}:{scope.project_id or ''}:"
        f"{','.join(sorted(keys))}:{first}:{stop}"
    )
    key = hashlib.sha256(raw.encode()).hexdigest()
    cached = cache.get(key)
    if cached is None:
        cached = section.compute(scope, first, stop, keys)
        cache.set(key, cached, HISTORY_SECONDS)
    return cached


def _targets(
    scope: Scope, period: str, start: date, end: date, shown: list[Section]
) -> dict[str, Decimal]:
    """The target of each figure for the period, when one is set for each of its
    months: additive figures add the months' targets up, the others average them. The
    target is the one set for exactly this project (or none) and this team (a sales
    manager's) or none. One query."""
    if period not in MONTHLY_PERIODS:
        return {}
    wanted = {f.key: f for s in shown for f in s.figures}
    months = months_of(start, end)
    team_id = int(scope.key[4:]) if scope.key.startswith("team") else None
    rows = Target.objects.filter(
        figure__in=list(wanted),
        month__in=months,
        project_id=scope.project_id,
        team_id=team_id,
    ).values_list("figure", "month", "value")
    by_figure: dict[str, dict[date, Decimal]] = {}
    for key, month, value in rows:
        by_figure.setdefault(key, {})[month] = value
    targets = {}
    for key, values in by_figure.items():
        if len(values) != len(months):
            continue
        total = sum(values.values(), Decimal("0"))
        if wanted[key].additive and not wanted[key].now:
            targets[key] = total
        else:
            targets[key] = total / len(months)
    return targets
