"""Reads behind the sales desk's pages."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from django.core.cache import cache
from django.db.models import Count, Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone

from crm_site.models import User
from crm_site.roles import Role
from crm_site.templatetags.money import price_short
from customers.models import Customer
from sales.models import Building, Opportunity, Project, Unit


def my_customers_by_stage(*, user: User) -> dict[str, int]:
    rows = (
        Customer.objects.filter(assigned_consultant=user)
        .order_by()
        .values("stage")
        .annotate(n=Count("id"))
    )
    return {row["stage"]: row["n"] for row in rows}


def public_pool_size() -> int:
    return Customer.objects.filter(assigned_consultant__isnull=True).count()


def team_workload(*, user: User) -> list[User]:
    """Each consultant of the manager's team with their customer counts per stage."""
    if not user.team_id:
        return []
    return list(
        User.objects.filter(
            team_id=user.team_id, is_active=True, groups__name=Role.CONSULTANT.value
        )
        .annotate(
            total=Count("assigned_customers"),
            prospects=Count(
                "assigned_customers",
                filter=Q(assigned_customers__stage=Customer.Stage.PROSPECT),
            ),
            buyers=Count(
                "assigned_customers",
                filter=Q(assigned_customers__stage=Customer.Stage.BUYER),
            ),
            owners=Count(
                "assigned_customers",
                filter=Q(assigned_customers__stage=Customer.Stage.OWNER),
            ),
        )
        .order_by("last_name", "first_name", "username")
    )


@dataclass(frozen=True)
class GridCell:
    """One unit as the grid draws it, with its texts ready: 264 cells rendered through
    template lookups and filters cost more than the query."""

    unit: Unit | None
    matches: bool
    url: str = ""
    status_label: str = ""
    area: str = ""
    price: str = ""


@dataclass(frozen=True)
class GridRow:
    floor: int
    cells: list[GridCell]


@dataclass(frozen=True)
class Grid:
    rows: list[GridRow]
    positions: list[int]
    counts: list[tuple[str, str, int]]
    layouts: list[str]
    total: int


URL_SENTINEL = 987654321


def _cell(unit: Unit | None, matches, unit_url: str, labels: dict) -> GridCell:
    if unit is None:
        return GridCell(None, False)
    return GridCell(
        unit,
        matches(unit),
        url=unit_url.replace(str(URL_SENTINEL), str(unit.pk)),
        status_label=labels[unit.status],
        area=f"{unit.gross_area.normalize():f} m²",
        price=price_short(unit.list_price),
    )


def building_grid(
    *, building: Building, layout: str = "", price_min=None, price_max=None
) -> Grid:
    """The sales-control grid: floors top-down × positions, one query for all units."""
    units = list(
        Unit.objects.filter(building=building)
        .only(
            "id",
            "number",
            "floor",
            "position",
            "layout",
            "gross_area",
            "list_price",
            "status",
            "building_id",
        )
        .order_by("-floor", "position")
    )
    by_floor: dict[int, dict[int, Unit]] = {}
    for unit in units:
        by_floor.setdefault(unit.floor, {})[unit.position] = unit
    positions = sorted({unit.position for unit in units}) or list(
        range(1, building.units_per_floor + 1)
    )

    def matches(unit: Unit) -> bool:
        if layout and unit.layout != layout:
            return False
        if price_min is not None and unit.list_price < price_min:
            return False
        return not (price_max is not None and unit.list_price > price_max)

    # reverse() once; each cell's URL differs only by its id.
    unit_url = reverse("sales:unit-detail", args=[URL_SENTINEL])
    labels = {value: str(label) for value, label in Unit.Status.choices}
    rows = [
        GridRow(
            floor,
            [_cell(cells.get(p), matches, unit_url, labels) for p in positions],
        )
        for floor, cells in sorted(by_floor.items(), reverse=True)
    ]
    tally = Counter(unit.status for unit in units)
    return Grid(
        rows=rows,
        positions=positions,
        counts=[
            (value, label, tally.get(value, 0)) for value, label in Unit.Status.choices
        ],
        layouts=sorted({unit.layout for unit in units if unit.layout}),
        total=len(units),
    )


def deals_by_stage(
    *, user: User, project: Project | None = None
) -> dict[str, list[Opportunity]]:
    """Open deals the user may see, grouped by stage for the kanban board."""
    qs = (
        Opportunity.objects.visible_to(user)
        .open()
        .select_related("customer", "project", "unit", "consultant")
        .order_by("-stage_changed_at")
    )
    if project is not None:
        qs = qs.filter(project=project)
    board: dict[str, list[Opportunity]] = {
        stage: [] for stage in Opportunity.OPEN_STAGES
    }
    for deal in qs[:500]:
        board[deal.stage].append(deal)
    return board


def open_deal_counts(*, user: User) -> list[tuple[str, str, int]]:
    """Open deals by stage; counted at most once a minute per user (a busy consultant
    can have tens of thousands)."""
    key = f"open-deal-counts:{user.pk}"
    counts = cache.get(key)
    if counts is None:
        counts = _open_deal_counts(user)
        cache.set(key, counts, 60)
    return [
        (stage, Opportunity.Stage(stage).label, counts.get(stage, 0))
        for stage in Opportunity.OPEN_STAGES
    ]


def _open_deal_counts(user: User) -> dict[str, int]:
    rows = (
        Opportunity.objects.visible_to(user)
        .open()
        .order_by()
        .values("stage")
        .annotate(n=Count("id"))
    )
    return {row["stage"]: row["n"] for row in rows}


def my_day(*, user: User) -> dict:
    """What a consultant opens first, only what they can act on now: today's and
    overdue follow-ups (with the number and a one-click log), protections ending in
    the next seven days (a logged visit or call renews them; already lapsed ones are
    the pool's), customers who just returned to the pool (claim), open deals by stage."""
    from sales.models import OwnershipEvent, Registration

    today = timezone.localdate()
    now = timezone.now()
    mine = (
        Customer.objects.live()
        .filter(assigned_consultant=user, next_follow_up__isnull=False)
        .only(
            "id",
            "name",
            "mobile",
            "stage",
            "next_follow_up",
            "last_contact_at",
            "assigned_consultant_id",
        )
    )
    due_today = list(mine.filter(next_follow_up=today).order_by("name")[:50])
    overdue = list(
        mine.filter(next_follow_up__lt=today).order_by("next_follow_up")[:50]
    )
    # Ending within a week and not yet ended: the (consultant, status,
    # protected_until) index walks exactly these.
    ending = list(
        Registration.objects.filter(
            consultant=user,
            status=Registration.Status.PROTECTED,
            protected_until__gt=now,
            protected_until__lte=now + timedelta(days=7),
        )
        # A subscribed or contracted deal keeps its customer protected until the
        # deal ends (sales.services.ownership): nothing to do for those.
        .exclude(
            Exists(
                Opportunity.objects.filter(
                    customer_id=OuterRef("customer_id"),
                    project_id=OuterRef("project_id"),
                    consultant_id=OuterRef("consultant_id"),
                    stage__in=[
                        Opportunity.Stage.SUBSCRIBED,
                        Opportunity.Stage.CONTRACTED,
                    ],
                )
            )
        )
        .select_related("customer", "project")
        .order_by("protected_until")[:50]
    )
    pool_new = list(
        OwnershipEvent.objects.filter(
            kind=OwnershipEvent.Kind.LAPSED,
            at__gte=now - timedelta(days=1),
            customer__assigned_consultant__isnull=True,
        )
        .select_related("customer", "project")
        .order_by("-at")[:20]
    )
    deal_counts = open_deal_counts(user=user)
    may_reveal = user.has_perm("customers.reveal_contact")
    for customer in [
        *due_today,
        *overdue,
        *(r.customer for r in ending),
        *(e.customer for e in pool_new),
    ]:
        customer.mobile_display = customer.mobile_for(user)
        customer.full_number = customer.contact_visible_to(user)
        customer.can_reveal = may_reveal and not customer.full_number
    return {
        "today": today,
        "due_today": due_today,
        "overdue": overdue,
        "ending": ending,
        "pool_new": pool_new,
        "deal_counts": deal_counts,
        "open_deals": sum(count for _stage, _label, count in deal_counts),
    }
