"""Sales' section of the managers' overview (crm_site.overview): visits, subscriptions,
contracts, their value and collections of a window of days, each with the list behind.

The figures and the lists behind them are built from the same querysets (visits_in,
stage_changes_in, receipts_in), so a list yields exactly the rows its figure counts.
A handful of aggregate queries over indexed columns (visits by the partial index on
visit days, stage changes by (to_stage, changed_at), receipts by day).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.db.models import (
    Count,
    DecimalField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Sum,
)
from django.db.models import Value as V
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm_site import overview
from crm_site.models import User
from customers.models import Interaction
from sales.models import (
    DealChange,
    DiscountRequest,
    Opportunity,
    PaymentItem,
    Project,
    Receipt,
    StageChange,
)
from sales.querysets import team_deals
from sales.services.money import RECEIVING_STAGES

MONEY = DecimalField(max_digits=18, decimal_places=2)


def deal_filter(scope_key: str, user: User, project_id: int | None, prefix: str) -> Q:
    """The user's scope and the project as conditions on a deal reached through
    `prefix` ("opportunity__", "item__opportunity__"): joins from the few rows of the
    period to their deals, rather than an IN over every deal of the scope. The same
    scope as Opportunity.objects.visible_to (a team's: sales.querysets.team_deals)."""
    conditions = Q()
    if scope_key.startswith("team"):
        conditions &= team_deals(
            user, project=f"{prefix}project_id", team=f"{prefix}consultant__team_id"
        )
    elif scope_key != "all":
        conditions &= Q(**{f"{prefix}consultant_id": user.pk})
    if project_id is not None:
        conditions &= Q(**{f"{prefix}project_id": project_id})
    return conditions


def visits_in(
    *, user: User, project_id: int | None, first: date, stop: date
) -> QuerySet[Interaction]:
    """Visits (来访) on the days first <= day < stop of customers with a deal in the
    user's scope (and project); every visit when the scope is everything."""
    key = overview.scope_key(user)
    visits = Interaction.objects.filter(
        kind=Interaction.Kind.VISIT,
        occurred_at__gte=overview.moment(first),
        occurred_at__lt=overview.moment(stop),
    )
    if key != "all" or project_id is not None:
        # A semi-join PostgreSQL runs as one hash of those customers.
        visits = visits.filter(
            Exists(
                Opportunity.objects.filter(
                    deal_filter(key, user, project_id, ""),
                    customer_id=OuterRef("customer_id"),
                )
            )
        )
    return visits


def stage_changes_in(
    *, user: User, project_id: int | None, first: date, stop: date, stages: list[str]
) -> QuerySet[StageChange]:
    return StageChange.objects.filter(
        deal_filter(overview.scope_key(user), user, project_id, "opportunity__"),
        to_stage__in=stages,
        changed_at__gte=overview.moment(first),
        changed_at__lt=overview.moment(stop),
    )


def receipts_in(
    *, user: User, project_id: int | None, first: date, stop: date
) -> QuerySet[Receipt]:
    return Receipt.objects.filter(
        deal_filter(overview.scope_key(user), user, project_id, "item__opportunity__"),
        received_on__gte=first,
        received_on__lt=stop,
    )


def overdue_payments(*, user: User, project_id: int | None) -> QuerySet[PaymentItem]:
    """Instalments past their due date and not fully received, of deals still
    receiving money: a cancelled deal's money is settled by its refund instead."""
    return PaymentItem.objects.filter(
        deal_filter(overview.scope_key(user), user, project_id, "opportunity__"),
        due_date__lt=timezone.localdate(),
        received__lt=F("amount"),
        opportunity__stage__in=RECEIVING_STAGES,
    )


def pending_approvals(
    *, user: User, project_id: int | None
) -> tuple[QuerySet[DiscountRequest], QuerySet[DealChange]]:
    """Discounts and deal changes waiting for a sales manager."""
    scope = deal_filter(overview.scope_key(user), user, project_id, "opportunity__")
    return (
        DiscountRequest.objects.filter(scope, status=DiscountRequest.Status.PENDING),
        DealChange.objects.filter(scope, status=DealChange.Status.PENDING),
    )


def current(scope: overview.Scope) -> dict:
    """What waits now: overdue instalments and approvals (three counts)."""
    discounts, changes = pending_approvals(user=scope.user, project_id=scope.project_id)
    return {
        "sales.overdue_payments": overdue_payments(
            user=scope.user, project_id=scope.project_id
        ).count(),
        "sales.approvals": discounts.count() + changes.count(),
    }


def compute(scope: overview.Scope, first: date, stop: date, keys: set[str]) -> dict:
    """Sales figures of the days first <= day < stop: three aggregate queries."""
    window = {"user": scope.user, "project_id": scope.project_id, "first": first}
    changes = stage_changes_in(
        **window,
        stop=stop,
        stages=[Opportunity.Stage.SUBSCRIBED, Opportunity.Stage.CONTRACTED],
    ).aggregate(
        # Deals, not moves: a deal that reached a stage twice is one row of the list.
        subscriptions=Count(
            "opportunity_id",
            filter=Q(to_stage=Opportunity.Stage.SUBSCRIBED),
            distinct=True,
        ),
        contracts=Count(
            "opportunity_id",
            filter=Q(to_stage=Opportunity.Stage.CONTRACTED),
            distinct=True,
        ),
        contract_value=Coalesce(
            Sum(
                "opportunity__agreed_price",
                filter=Q(to_stage=Opportunity.Stage.CONTRACTED),
            ),
            V(Decimal("0")),
            output_field=MONEY,
        ),
    )
    collections = receipts_in(**window, stop=stop).aggregate(
        total=Coalesce(Sum("amount"), V(Decimal("0")), output_field=MONEY)
    )["total"]
    return {
        # Counting customer_id, which the partial visit index includes, lets
        # PostgreSQL answer from the index alone (no heap visits).
        "sales.visits": visits_in(**window, stop=stop).aggregate(
            n=Count("customer_id")
        )["n"],
        **{f"sales.{name}": value for name, value in changes.items()},
        "sales.collections": collections,
    }


def _url(name: str, **params) -> str:
    query = urlencode({k: v for k, v in params.items() if v not in ("", None)})
    return f"{reverse(name)}?{query}" if query else reverse(name)


def links(scope: overview.Scope, start: date, end: date) -> dict[str, str]:
    window = {
        "project": scope.project_id,
        "start": start.isoformat(),
        "end": end.isoformat(),
    }
    contracts = _url("sales:opportunity-list", reached="contracted", **window)
    return {
        "sales.visits": _url("sales:visit-list", **window),
        "sales.subscriptions": _url(
            "sales:opportunity-list", reached="subscribed", **window
        ),
        "sales.contracts": contracts,
        "sales.contract_value": contracts,
        "sales.collections": _url("sales:receipt-list", **window),
        "sales.overdue_payments": _url(
            "sales:payments-overdue", project=scope.project_id
        ),
        "sales.approvals": _url("sales:approval-list", project=scope.project_id),
    }


def _projects() -> list[tuple[int, str]]:
    return list(Project.objects.order_by("name").values_list("pk", "name"))


def register() -> None:
    overview.register_projects(_projects)
    overview.register(
        overview.Section(
            key="sales",
            label=_("Sales"),
            permission="sales.view_sales_desk",
            order=10,
            figures=(
                overview.Figure("sales.visits", _("Visits")),
                overview.Figure("sales.subscriptions", _("Subscriptions")),
                overview.Figure("sales.contracts", _("Contracts")),
                overview.Figure(
                    "sales.contract_value", _("Contracted value"), money=True
                ),
                overview.Figure("sales.collections", _("Collections"), money=True),
                overview.Figure(
                    "sales.overdue_payments",
                    _("Overdue payments"),
                    now=True,
                    lower_is_better=True,
                ),
                overview.Figure(
                    "sales.approvals",
                    _("Approvals waiting"),
                    now=True,
                    lower_is_better=True,
                ),
            ),
            compute=compute,
            current=current,
            links=links,
        )
    )


def window_of(start: date | None, end: date | None) -> tuple[date, date] | None:
    """The days start <= day < stop of a list's ?start&end (end inclusive)."""
    if start is None or end is None or end < start:
        return None
    return start, end + timedelta(days=1)
