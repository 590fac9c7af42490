"""Reads behind the sales desk's pages."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.core.cache import cache
from django.db.models import (
    Count,
    DecimalField,
    Exists,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Round
from django.urls import reverse
from django.utils import timezone

from crm_site.models import User
from crm_site.pagination import paginate
from crm_site.roles import Role
from crm_site.templatetags.money import price_short
from customers.models import Customer
from sales.models import (
    Building,
    DealChange,
    DiscountRequest,
    Opportunity,
    Project,
    Registration,
    StageChange,
    Unit,
)
from sales.querysets import team_deals
from sales.services.changes import open_for_change
from sales.services.sessions import projects_visible_to


def registrations_reassignable_by(user: User) -> QuerySet[Registration]:
    """Registrations a manager may hand over: at a project their team sells, of a
    customer they see, and protected by their own team's consultant or by a channel
    partner's broker (taken over on the visit). Another team's protection is that
    team's, even where both teams sell (撞单); a protection held by a consultant whose
    team does not sell the project (moved to another team) is the project's managers',
    as its deals are (sales.querysets.team_deals); who sees every customer decides
    all."""
    qs = Registration.objects.filter(
        project__in=projects_visible_to(user),
        customer__in=Customer.objects.visible_to(user),
    )
    if user.has_perm("customers.scope_all"):
        return qs
    partners = Q(
        consultant__in=User.objects.filter(groups__name=Role.CHANNEL_PARTNER.value)
    )
    if not user.team_id:
        return qs.filter(partners)
    return qs.filter(team_deals(user) | partners)


def reassign_targets(*, user: User, project: Project) -> QuerySet[User]:
    """The consultants ``user`` may hand a protection at ``project`` to: active
    consultants whose team sells it (any consultant's, a project without teams), of
    the manager's own team; who decides all (an administrator, with or without a
    team) chooses among every such team."""
    sellers = Project.teams.through.objects.filter(project_id=project.pk)
    consultants = User.objects.filter(
        Exists(sellers.filter(team_id=OuterRef("team_id"))) | ~Exists(sellers),
        is_active=True,
        groups__name=Role.CONSULTANT.value,
    )
    if user.has_perm("customers.scope_all"):
        return consultants
    if not user.team_id:
        return consultants.none()
    return consultants.filter(team_id=user.team_id)


def my_customers_by_stage(*, user: User) -> dict[str, int]:
    rows = (
        Customer.objects.filter(assigned_consultant=user)
        .order_by()
        .values("stage")
        .annotate(n=Count("id"))
    )
    return {row["stage"]: row["n"] for row in rows}


def public_pool_size() -> int:
    """The sales home's pool figure: what the pool page lists (pool_claimable, not
    merged, anonymised, buyers or owners), counted as that page counts it — exact up
    to the count cap, the planner's rounded estimate beyond, cached for a minute
    (crm_site.pagination): on a million customers the claimable filter is not read in
    full on every visit to the sales home."""
    from sales.services.ownership import pool_claimable

    page = paginate(pool_claimable().order_by("pk"), page=1, per_page=1)
    return page.total or 0


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


# Each unit status has its own symbol (Bootstrap Icons) besides its colour, so the grid
# reads without colour: on a washed-out office screen, printed in black and white, or by
# a colour-blind consultant. The colours (app.css) are the Okabe–Ito palette.
STATUS_ICONS: dict[str, str] = {
    Unit.Status.AVAILABLE: "bi-circle",
    Unit.Status.RESERVED: "bi-hourglass-split",
    Unit.Status.SUBSCRIBED: "bi-pen-fill",
    Unit.Status.CONTRACTED: "bi-file-earmark-check-fill",
    Unit.Status.HANDED_OVER: "bi-key-fill",
    Unit.Status.NOT_FOR_SALE: "bi-slash-circle",
}


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
    icon: str = ""


@dataclass(frozen=True)
class StatusCount:
    """One line of the grid's legend: the status, its symbol and how many units."""

    status: str
    label: str
    icon: str
    count: int


@dataclass(frozen=True)
class GridRow:
    floor: int
    cells: list[GridCell]


@dataclass(frozen=True)
class Grid:
    rows: list[GridRow]
    positions: list[int]
    counts: list[StatusCount]
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
        icon=STATUS_ICONS.get(unit.status, ""),
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
            StatusCount(value, str(label), STATUS_ICONS[value], tally.get(value, 0))
            for value, label in Unit.Status.choices
        ],
        layouts=sorted({unit.layout for unit in units if unit.layout}),
        total=len(units),
    )


# What a deal is worth on the board: the agreed price once subscribed, before that the
# held unit's list price less the discount in force (as sales.pricing.quote rounds it).
DEAL_AMOUNT = Coalesce(
    F("agreed_price"),
    F("unit__list_price")
    - Round(F("unit__list_price") * F("discount_percent") / Value(Decimal("100"))),
    output_field=DecimalField(max_digits=14, decimal_places=2),
)
# The board draws at most this many deals in all; the column heads count every deal.
BOARD_DEALS_SHOWN = 500


@dataclass(frozen=True)
class BoardColumn:
    stage: str
    label: str
    deals: list[Opportunity]
    count: int
    amount: Decimal

    @property
    def hidden(self) -> int:
        return self.count - len(self.deals)


def deals_by_stage(
    *, user: User, project: Project | None = None
) -> dict[str, list[Opportunity]]:
    """Open deals the user may see, grouped by stage for the kanban board, each with
    its `amount`."""
    qs = (
        Opportunity.objects.visible_to(user)
        .open()
        .select_related("customer", "project", "unit", "consultant")
        .annotate(amount=DEAL_AMOUNT)
        .order_by("-stage_changed_at")
    )
    if project is not None:
        qs = qs.filter(project=project)
    board: dict[str, list[Opportunity]] = {
        stage: [] for stage in Opportunity.OPEN_STAGES
    }
    for deal in qs[:BOARD_DEALS_SHOWN]:
        board[deal.stage].append(deal)
    return board


def deal_board(*, user: User, project: Project | None = None) -> list[BoardColumn]:
    """The kanban columns: the deals shown and, in one more query, every open deal's
    count and amount per stage (the board may show fewer)."""
    board = deals_by_stage(user=user, project=project)
    qs = Opportunity.objects.visible_to(user).open()
    if project is not None:
        qs = qs.filter(project=project)
    totals = {
        row["stage"]: row
        for row in qs.order_by()
        .values("stage")
        .annotate(n=Count("id"), amount=Sum(DEAL_AMOUNT))
    }
    return [
        BoardColumn(
            stage=stage,
            label=str(Opportunity.Stage(stage).label),
            deals=board[stage],
            count=totals.get(stage, {}).get("n", 0),
            amount=totals.get(stage, {}).get("amount") or Decimal("0"),
        )
        for stage in Opportunity.OPEN_STAGES
    ]


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
    from sales.services.ownership import pool_claimable

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
    # By date, then name: the order of the (consultant, next_follow_up, name) index,
    # which reads just these 50. Ordered by date alone, PostgreSQL preferred walking
    # every customer's follow-up dates and skipping other consultants' (15,000 rows
    # on a million customers, 29 ms against 1 ms).
    overdue = list(
        mine.filter(next_follow_up__lt=today).order_by("next_follow_up", "name")[:50]
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
            # What the pool lists and a claim allows: not merged away, anonymised,
            # a buyer or an owner (a subquery, no extra query).
            customer__in=pool_claimable(),
            # Claim posts the row's project: only those the user's team sells.
            project__in=projects_visible_to(user),
        )
        .select_related("customer", "project")
        .order_by("-at")[:20]
    )
    deal_counts = open_deal_counts(user=user)
    # The follow-up and protection rows are worked out by the page
    # (customers.selectors.quick_log_rows); the pool's rows show the number here.
    for event in pool_new:
        event.customer.mobile_display = event.customer.mobile_for(user)
    return {
        "today": today,
        "due_today": due_today,
        "overdue": overdue,
        "ending": ending,
        "pool_new": pool_new,
        "deal_counts": deal_counts,
        "open_deals": sum(count for _stage, _label, count in deal_counts),
    }


# The approvals queue shows each deal's latest steps: enough to judge, one screen high.
HISTORY_SHOWN = 6


@dataclass(frozen=True)
class HistoryEntry:
    """One step of a deal as the approvals queue lists it: a stage change, an earlier
    discount request or an earlier change after subscription (`kind` says which)."""

    at: datetime
    kind: str
    item: StageChange | DiscountRequest | DealChange


def deal_history_prefetches(path: str = "opportunity") -> list[Prefetch]:
    """Each deal's latest stage changes and decided requests, a few per deal, in three
    queries for a whole page of deals (sliced prefetches)."""
    return [
        Prefetch(
            f"{path}__stage_changes",
            queryset=StageChange.objects.select_related("changed_by").order_by(
                "-changed_at", "-pk"
            )[:HISTORY_SHOWN],
            to_attr="recent_stage_changes",
        ),
        Prefetch(
            f"{path}__discount_requests",
            queryset=DiscountRequest.objects.exclude(
                status=DiscountRequest.Status.PENDING
            )
            .select_related("decided_by")
            .order_by("-requested_at", "-pk")[:HISTORY_SHOWN],
            to_attr="past_discounts",
        ),
        Prefetch(
            f"{path}__changes",
            queryset=DealChange.objects.exclude(status=DealChange.Status.PENDING)
            .select_related("decided_by", "new_unit", "new_customer")
            .order_by("-requested_at", "-pk")[:HISTORY_SHOWN],
            to_attr="past_changes",
        ),
    ]


def deal_history(deal: Opportunity) -> list[HistoryEntry]:
    """The deal's latest steps, newest first, from deal_history_prefetches()."""
    entries = [
        HistoryEntry(c.changed_at, "stage", c) for c in deal.recent_stage_changes
    ]
    entries += [
        HistoryEntry(r.decided_at or r.requested_at, "discount", r)
        for r in deal.past_discounts
    ]
    entries += [
        HistoryEntry(c.decided_at or c.requested_at, "change", c)
        for c in deal.past_changes
    ]
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:HISTORY_SHOWN]


# The unit picker of a change of unit lists this many matches; more means "narrow it".
UNIT_CHOICES_SHOWN = 30


@dataclass(frozen=True)
class UnitChoices:
    units: list[Unit]
    more: bool


def units_available_for_change(
    *,
    project_id: int,
    building_id: int | None = None,
    floor: int | None = None,
    text: str = "",
) -> UnitChoices:
    """Units of the project a deal may change to (available, or held only past the
    hold's deadline: sales.services.changes.open_for_change), filtered by building,
    floor and unit number (part of it), in one query (unit_status_idx per building)."""
    qs = Unit.objects.filter(
        open_for_change(now=timezone.now()), building__project_id=project_id
    ).select_related("building")
    if building_id is not None:
        qs = qs.filter(building_id=building_id)
    if floor is not None:
        qs = qs.filter(floor=floor)
    text = text.strip()[:20]
    if text:
        qs = qs.filter(number__icontains=text)
    units = list(
        qs.order_by("building__name", "floor", "position")[: UNIT_CHOICES_SHOWN + 1]
    )
    return UnitChoices(
        units=units[:UNIT_CHOICES_SHOWN], more=len(units) > UNIT_CHOICES_SHOWN
    )


# Print-ready documents of a deal ---------------------------------------------------

#: The documents a deal prints: the unit-selection confirmation (选房确认单) once it
#: has a unit, the subscription agreement (认购书) from subscription on.
DOCUMENTS = ("selection", "subscription")
SUBSCRIPTION_STAGES = (
    Opportunity.Stage.SUBSCRIBED,
    Opportunity.Stage.CONTRACTED,
    Opportunity.Stage.PAID,
)


def printable_documents(deal: Opportunity) -> list[str]:
    # A lost deal gave its unit back (it keeps unit_id as a record): a sheet naming
    # the buyer for that unit must not print any more.
    if deal.unit_id is None or deal.stage == Opportunity.Stage.LOST:
        return []
    if deal.stage in SUBSCRIPTION_STAGES:
        return ["selection", "subscription"]
    return ["selection"]


def print_context(*, deal: Opportunity, viewer) -> dict:
    """What sales/print_<document>.html shows, numbers masked as ``viewer`` may see
    them (a staff user; an owner in the portal sees them masked)."""
    from sales.models import PaymentItem
    from sales.pricing import quote

    items = list(deal.payment_items.all())
    # The selection (选房) in an opening session the deal was subscribed at, if it
    # still holds the deal's unit: its confirmation says what happened there (the
    # session, the buyer's number, the deposit of intent applied) rather than that
    # the unit is held. A selection cancelled or moved off the unit is history.
    selection = (
        deal.selections.filter(cancelled_at__isnull=True, unit_id=deal.unit_id)
        .select_related("session", "entry__deposit")
        .order_by("-selected_at", "-pk")
        .first()
    )
    # What is left to pay of the agreed price (its plan is agreed at contract): the
    # price less what the plan's lines received that is still the buyer's.
    received = sum((i.received for i in items), Decimal("0")) - deal.forfeited
    price = deal.agreed_price
    return {
        "deal": deal,
        "selection": selection,
        "still_to_pay": None if price is None else max(price - received, Decimal("0")),
        "quote": quote(unit=deal.unit, discount_percent=deal.discount_percent),
        "items": items,
        # The deposit the buyer pays on signing the subscription (定金).
        "deposit": next((i for i in items if i.kind == PaymentItem.Kind.DEPOSIT), None),
        "mobile_display": deal.customer.mobile_for(viewer),
        "id_number_display": deal.customer.id_number_for(viewer),
        # Everyone who signs with the buyer, numbers masked as for the buyer.
        "co_buyers": [
            {
                "customer": row.customer,
                "mobile": row.customer.mobile_for(viewer),
                "id_number": row.customer.id_number_for(viewer),
            }
            for row in deal.co_buyers.select_related("customer").order_by(
                "added_at", "pk"
            )
        ],
        "today": timezone.localdate(),
    }
