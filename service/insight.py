"""Service in the explorer (crm_site.insight): the request and work-order fact tables
and their sources. The triggers that mark their rows dirty are in
service/migrations/0019_request_work_order_fact_triggers.

Cost: a request costs what its work orders (not cancelled) cost; chargebacks are money
contractors owe back for defects reported in it, so its net cost is the difference.
A repeat is a request whose unit had another request of the same category in the 90
days before it was received.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm_site import insight
from crm_site.insight import Dimension, Kind, Measure
from sales.models import Project
from service.models import Contractor, RequestFact, WorkOrderFact

REPEAT_DAYS = 90
# How far back the escalation sweep (every 10 minutes) looks for deadlines that passed.
DEADLINE_LOOKBACK = timedelta(hours=1)
# Statuses in which a request is still being worked (its deadline still runs). Being
# late is judged at the statement's time, not the transaction's start (now()).
_WORKING = "('received', 'assigned', 'in_progress')"

REQUESTS = insight.FactTable(
    key="service.requests",
    label=_("Service requests"),
    model=RequestFact,
    key_column="request_id",
    key_expr="r.id",
    select_sql=f"""
SELECT r.id, r.customer_id, r.receiver_id, r.kind, r.category, r.severity, r.channel,
       b.project_id, u.building_id, r.unit_id, r.department, wc.contractor_id,
       r.status,
       date_trunc('month', r.received_at AT TIME ZONE %(tz)s)::date,
       (r.received_at AT TIME ZONE %(tz)s)::date,
       (r.closed_at AT TIME ZONE %(tz)s)::date,
       round((EXTRACT(EPOCH FROM r.closed_at - r.received_at) / 3600)::numeric, 1),
       CASE WHEN r.status IN {_WORKING}
            THEN statement_timestamp() > r.resolution_due
                 OR (r.status = 'received'
                     AND statement_timestamp() > r.response_due)
            ELSE COALESCE(r.resolved_at > r.resolution_due, FALSE) END,
       COALESCE(w.cost, 0), COALESCE(cb.amount, 0),
       COALESCE(w.cost, 0) - COALESCE(cb.amount, 0),
       COALESCE(w.orders, 0),
       s.index, s.index IS NOT NULL,
       r.unit_id IS NOT NULL AND EXISTS (
           SELECT 1 FROM service_servicerequest p
           WHERE p.unit_id = r.unit_id AND p.category = r.category
             AND p.received_at >= r.received_at - interval '{REPEAT_DAYS} days'
             AND (p.received_at < r.received_at
                  OR (p.received_at = r.received_at AND p.id < r.id)))
FROM service_servicerequest r
LEFT JOIN sales_unit u ON u.id = r.unit_id
LEFT JOIN sales_building b ON b.id = u.building_id
LEFT JOIN LATERAL (
    SELECT sum(wo.cost) AS cost, count(*) AS orders FROM service_workorder wo
    WHERE wo.request_id = r.id AND wo.status <> 'cancelled'
) w ON TRUE
LEFT JOIN LATERAL (
    SELECT wo.contractor_id FROM service_workorder wo
    WHERE wo.request_id = r.id AND wo.status <> 'cancelled'
      AND wo.contractor_id IS NOT NULL
    ORDER BY wo.created_at DESC, wo.id DESC LIMIT 1
) wc ON TRUE
LEFT JOIN LATERAL (
    SELECT sum(c.amount) AS amount FROM service_chargeback c WHERE c.request_id = r.id
) cb ON TRUE
LEFT JOIN service_surveyinvitation i ON i.request_id = r.id
LEFT JOIN service_surveyresponse s ON s.invitation_id = i.id
WHERE {{where}}
""",
)

WORK_ORDERS = insight.FactTable(
    key="service.work_orders",
    label=_("Work orders"),
    model=WorkOrderFact,
    key_column="work_order_id",
    key_expr="wo.id",
    select_sql="""
SELECT wo.id, wo.request_id, r.category, b.project_id, u.building_id,
       wo.assignee_kind, wo.department, wo.contractor_id, wo.status,
       date_trunc('month', wo.created_at AT TIME ZONE %(tz)s)::date,
       date_trunc('month', r.received_at AT TIME ZONE %(tz)s)::date,
       (wo.signed_off_at AT TIME ZONE %(tz)s)::date,
       CASE WHEN wo.signed_off_at IS NOT NULL THEN wo.signed_off_at <= wo.due_at END,
       wo.cost, COALESCE(cb.amount, 0),
       s.index, s.index IS NOT NULL
FROM service_workorder wo
JOIN service_servicerequest r ON r.id = wo.request_id
LEFT JOIN sales_unit u ON u.id = r.unit_id
LEFT JOIN sales_building b ON b.id = u.building_id
LEFT JOIN LATERAL (
    SELECT sum(c.amount) AS amount FROM service_chargeback c
    WHERE c.work_order_id = wo.id
) cb ON TRUE
LEFT JOIN service_surveyinvitation i ON i.request_id = r.id
LEFT JOIN service_surveyresponse s ON s.invitation_id = i.id
WHERE wo.status <> 'cancelled' AND {where}
""",
)


def deadlines_passed_mark(*, now: datetime | None = None) -> int:
    """Mark dirty the requests still being worked whose deadline passed within
    DEADLINE_LOOKBACK: becoming late changes no row, so no trigger sees it, and their
    overdue flag would wait for the next change. Run by the escalation sweep; marking
    a key twice only recomputes its row again."""
    now = now or timezone.now()
    since = now - DEADLINE_LOOKBACK
    with connection.cursor() as cursor:
        # request_due_idx serves the resolution deadlines, request_status_idx the
        # requests still at the desk.
        cursor.execute(
            f"""
INSERT INTO crm_site_factdirty (fact, key)
SELECT %(fact)s, id FROM service_servicerequest
WHERE status IN {_WORKING}
  AND ((resolution_due >= %(since)s AND resolution_due < %(now)s)
       OR (status = 'received' AND response_due >= %(since)s
           AND response_due < %(now)s))""",
            {"fact": REQUESTS.key, "since": since, "now": now},
        )
        return cursor.rowcount


def request_scope(user) -> Q:
    """The request facts a user may count: the same rule as
    ServiceRequest.objects.visible_to (the desk sees every request, whoever else
    records requests sees those they received)."""
    if not user.is_authenticated:
        return Q(pk__in=[])
    if user.has_perm("service.view_service_desk"):
        return Q()
    if user.has_perm("service.view_service_request"):
        return Q(receiver_id=user.pk)
    return Q(pk__in=[])


def work_order_scope(user) -> Q:
    """The work-order list is the service desk's: the desk counts every one."""
    if user.is_authenticated and user.has_perm("service.view_service_desk"):
        return Q()
    return Q(pk__in=[])


# --- Labels: one query for all the values of a dimension -------------------------------


def building_names(values: list) -> dict:
    from sales.models import Building

    return {
        b.pk: f"{b.project.name} {b.name}"
        for b in Building.objects.filter(pk__in=values).select_related("project")
    }


def unit_names(values: list) -> dict:
    from sales.models import Unit

    return {
        u.pk: f"{u.building.project.name} {u.building.name} {u.number}"
        for u in Unit.objects.filter(pk__in=values).select_related("building__project")
    }


# --- Sources ---------------------------------------------------------------------------


def _money(key: str, label, field: str, aggregate: str = "sum") -> Measure:
    return Measure(key, label, aggregate, field, kind=Kind.MONEY, decimals=2)


def _satisfaction() -> Measure:
    return Measure(
        "satisfaction",
        _("Satisfaction index (average)"),
        "avg",
        "satisfaction",
        kind=Kind.SCORE,
        decimals=1,
    )


REQUEST_MEASURES = (
    Measure("requests", _("Requests"), "count"),
    _money("cost", _("Cost"), "cost"),
    _money("average_cost", _("Cost per request (average)"), "cost", "avg"),
    _money("chargebacks", _("Charged back to contractors"), "chargebacks"),
    _money("net_cost", _("Net cost"), "net_cost"),
    Measure(
        "hours_to_close",
        _("Hours to close (average)"),
        "avg",
        "hours_to_close",
        kind=Kind.HOURS,
        decimals=1,
    ),
    _satisfaction(),
)

REQUEST_DIMENSIONS = (
    Dimension("category", _("Category"), "category"),
    Dimension("kind", _("Kind"), "kind"),
    Dimension("severity", _("Severity"), "severity"),
    Dimension("channel", _("Channel"), "channel"),
    Dimension("project", _("Project"), "project_id", labels=insight.names_of(Project)),
    Dimension("building", _("Building"), "building_id", labels=building_names),
    Dimension("unit", _("Unit"), "unit_id", labels=unit_names),
    Dimension("department", _("Handled by"), "department"),
    Dimension(
        "contractor",
        _("Contractor"),
        "contractor_id",
        labels=insight.names_of(Contractor),
    ),
    Dimension("month", _("Month received"), "opened_month", month=True),
    Dimension("status", _("Status"), "status"),
    Dimension("overdue", _("Deadline"), "overdue"),
    Dimension("repeat", _("Repeat within 90 days"), "repeat"),
    Dimension("answered", _("Survey"), "answered"),
)

WORK_ORDER_MEASURES = (
    Measure("work_orders", _("Work orders"), "count"),
    _money("cost", _("Cost"), "cost"),
    _money("average_cost", _("Cost per work order (average)"), "cost", "avg"),
    _money("chargebacks", _("Charged back"), "chargebacks"),
    _satisfaction(),
)

WORK_ORDER_DIMENSIONS = (
    Dimension(
        "contractor",
        _("Contractor"),
        "contractor_id",
        labels=insight.names_of(Contractor),
    ),
    Dimension("assignee_kind", _("Assigned to"), "assignee_kind"),
    Dimension("department", _("Department"), "department"),
    Dimension("category", _("Category"), "category"),
    Dimension("project", _("Project"), "project_id", labels=insight.names_of(Project)),
    Dimension("building", _("Building"), "building_id", labels=building_names),
    Dimension("status", _("Status"), "status"),
    Dimension("on_time", _("Sign-off"), "on_time"),
    Dimension("month", _("Month created"), "created_month", month=True),
    Dimension(
        "request_month",
        _("Month the request was received"),
        "request_month",
        month=True,
    ),
    Dimension("answered", _("Survey"), "answered"),
)

REQUEST_SOURCE = insight.Source(
    key="service.requests",
    label=_("Service requests"),
    model=RequestFact,
    measures=REQUEST_MEASURES,
    dimensions=REQUEST_DIMENSIONS,
    see="service.view_service_management",
    scope=request_scope,
    list_url="service:request-list",
    row_key="request_id",
    facts=("service.requests",),
    order=30,
    # A report covers the requests received in its period (as "month received").
    period="opened_on",
    period_month="month",
)

WORK_ORDER_SOURCE = insight.Source(
    key="service.work_orders",
    label=_("Work orders"),
    model=WorkOrderFact,
    measures=WORK_ORDER_MEASURES,
    dimensions=WORK_ORDER_DIMENSIONS,
    see="service.view_service_management",
    scope=work_order_scope,
    list_url="service:work-order-list",
    row_key="work_order_id",
    facts=("service.work_orders",),
    order=31,
    # The fact keeps the month a work order was created, not its day.
    period_month="month",
)


def register() -> None:
    insight.register_fact(REQUESTS)
    insight.register_fact(WORK_ORDERS)
    insight.register(REQUEST_SOURCE)
    insight.register(WORK_ORDER_SOURCE)
