"""Interactions (跟进记录) in the explorer (crm_site.insight): the fact table of
monthly counts, the triggers that keep it, and the source over it.

Five million interactions cannot be counted live within half a second, and a row per
interaction would be as large as the table. The fact is an aggregate: one row per
month, kind, channel, author and the few customer columns that decide who may see
them (customers.models_facts.InteractionFact). The explorer sums its ``interactions``
column. A drill opens the follow-up records list (customers.views.interactions)
narrowed by ``live()``: the same month, kind, channel, author and team on the live
rows, within the same visibility, so it lists exactly what the cell summed.

The key is a month (``year * 12 + month - 1`` in the site's time zone): a change to
an interaction marks its month (the old and the new one), a change to what a
customer's visibility depends on marks the months of their interactions, and a user
who changes team marks every month (a rare event; the refresh recounts them).
Recounting a month reads its interactions on interaction_month_fact_idx (a covering
index on occurred_at), not the whole table.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time
from typing import Any

from django.db import connection
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm_site import insight
from crm_site.insight import Dimension, Measure
from crm_site.models import Team
from customers.models_facts import InteractionFact

KEY = "customers.interactions"
# Who may analyse follow-up records: the managers of sales (their team, or everyone).
SEE = "sales.view_sales_management"


def month_key_sql(column: str, tz: str) -> str:
    """SQL: the month key of a timestamptz column in time zone ``tz`` (SQL text)."""
    local = f"({column} AT TIME ZONE {tz})"
    return (
        f"(EXTRACT(YEAR FROM {local})::int * 12 + EXTRACT(MONTH FROM {local})::int - 1)"
    )


def _month_start_sql(key: str, tz: str) -> str:
    return f"make_timestamptz(({key}) / 12, mod({key}, 12) + 1, 1, 0, 0, 0, {tz})"


def month_key(day: date) -> int:
    return day.year * 12 + day.month - 1


# The months asked for ({where} on ``k.mk``: the dirty keys, or every month between
# the first and the last interaction for a rebuild), then their interactions, read
# between the first month's start and the last month's end on the occurred_at index
# alone (interaction_month_fact_idx covers what is grouped). OFFSET 0 keeps the month
# key computed once per interaction; grouping is by the key, the month comes after.
SELECT_SQL = f"""
WITH k AS MATERIALIZED (
    SELECT mk FROM generate_series(
        (SELECT {month_key_sql("min(occurred_at)", "%(tz)s")} FROM customers_interaction),
        (SELECT {month_key_sql("max(occurred_at)", "%(tz)s")} FROM customers_interaction)
    ) AS k(mk) WHERE {{where}}
), acc AS (
    SELECT ca.customer_id,
           array_agg(DISTINCT ca.user_id ORDER BY ca.user_id) AS users,
           COALESCE(array_agg(DISTINCT u.team_id ORDER BY u.team_id)
               FILTER (WHERE u.team_id IS NOT NULL), '{{{{}}}}') AS teams
    FROM customers_customeraccess ca
    JOIN crm_site_user u ON u.id = ca.user_id
    GROUP BY ca.customer_id
), g AS (
    SELECT i.mk, i.kind, i.channel, i.created_by_id, a.team_id AS team_id,
           c.assigned_consultant_id IS NOT NULL AS owned, o.team_id AS owner_team_id,
           COALESCE(acc.users, '{{{{}}}}') AS users,
           COALESCE(acc.teams, '{{{{}}}}') AS teams,
           (c.consent_sms OR c.consent_email OR c.consent_phone) AS consented,
           c.stage IN ('buyer', 'owner') AS service,
           count(*) AS n
    FROM (
        SELECT {month_key_sql("occurred_at", "%(tz)s")} AS mk,
               customer_id, kind, channel, created_by_id
        FROM customers_interaction
        WHERE occurred_at >= (SELECT {_month_start_sql("min(mk)", "%(tz)s")} FROM k)
          AND occurred_at < (SELECT {_month_start_sql("max(mk) + 1", "%(tz)s")} FROM k)
        OFFSET 0
    ) i
    JOIN customers_customer c ON c.id = i.customer_id AND c.merged_into_id IS NULL
    LEFT JOIN crm_site_user a ON a.id = i.created_by_id
    LEFT JOIN crm_site_user o ON o.id = c.assigned_consultant_id
    LEFT JOIN acc ON acc.customer_id = c.id
    WHERE i.mk IN (SELECT mk FROM k)
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
)
SELECT mk, make_date(mk / 12, mod(mk, 12) + 1, 1), kind, channel, created_by_id,
       team_id, owned, owner_team_id, users, teams, consented,
       service, n
FROM g
"""


class InteractionsFact(insight.FactTable):
    """The fact's rows have an id of their own (the model's primary key), which the
    SELECT does not produce: the insert names every other column."""

    def columns(self) -> list[str]:
        return [c for c in super().columns() if c != "id"]

    @contextmanager
    def _planned(self) -> Iterator[None]:
        """A month is a few hundred thousand interactions, but the planner, blind to
        the month's bounds, expects a few hundred and would look each customer up
        by its key (minutes of random reads): hash joins and an in-memory
        aggregation instead, for this fact's statements only.

        SET LOCAL lasts to the end of the outermost transaction: inside a caller's
        (demo_data's, a test's) the facts rebuilt after this one were planned
        without nested loops too, and PostgreSQL, costing the deals' lateral join
        as disabled (10^10), JIT-compiled it for 2-3 s a statement. The settings
        are put back as they were; a statement that failed leaves the transaction
        to be rolled back, which undoes them."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('enable_nestloop'), current_setting('work_mem')"
            )
            before = cursor.fetchone()
            cursor.execute("SET LOCAL enable_nestloop = off")
            cursor.execute("SET LOCAL work_mem = '64MB'")
        yield
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('enable_nestloop', %s, true),"
                " set_config('work_mem', %s, true)",
                before,
            )

    def upsert(self, keys) -> int:
        with self._planned():
            return super().upsert(keys)

    def rebuild_rows(self) -> int:
        with self._planned():
            return super().rebuild_rows()


INTERACTIONS = InteractionsFact(
    key=KEY,
    label=_("Follow-up records"),
    model=InteractionFact,
    key_column="month_key",
    key_expr="k.mk",
    select_sql=SELECT_SQL,
)

# The triggers that mark months dirty: customers/migrations/0020_interaction_fact_…


# --- The explorer's source ------------------------------------------------------------


def interaction_scope(user) -> Q:
    """The fact rows a user may count: the rule of Customer.visible_to, on the
    customer columns each fact row carries (exact for every scope but scope_own, which
    no role with the right to analyse follow-ups holds)."""
    if (
        not user.is_authenticated
        or not user.has_perm(SEE)
        or not user.has_perm("customers.view_customer")
    ):
        return Q(pk__in=[])
    if user.has_perm("customers.scope_all"):
        return Q()
    clauses = Q(pk__in=[])
    if user.has_perm("customers.scope_team") and user.team_id:
        clauses |= (
            Q(owner_team_id=user.team_id)
            | Q(access_teams__contains=[user.team_id])
            | Q(owned=False)
        )
    if user.has_perm("customers.scope_own"):
        # The pool and the customers shared with them; their own customers are not
        # told apart in the fact (no role that analyses follow-ups works this way).
        clauses |= Q(access_users__contains=[user.pk]) | Q(owned=False)
    if user.has_perm("customers.scope_consented"):
        clauses |= Q(consented=True)
    if user.has_perm("customers.scope_service"):
        clauses |= Q(service=True)
    return clauses


def _month_range(value: Any) -> Q:
    day = date.fromisoformat(value) if isinstance(value, str) else value
    tz = timezone.get_default_timezone()
    start = timezone.make_aware(datetime.combine(day.replace(day=1), time()), tz)
    if (day.year, day.month) == (date.max.year, date.max.month):
        # The last month a date can name has no following month to end at.
        return Q(occurred_at__gte=start)
    following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    end = timezone.make_aware(datetime.combine(following, time()), tz)
    return Q(occurred_at__gte=start, occurred_at__lt=end)


def _any(values: list, one) -> Q:
    q = Q(pk__in=[])
    for value in values:
        q |= one(value)
    return q


def live(filters: dict[str, Any]) -> Q:
    """The interactions a cell summed, on Interaction (the list's scope applies the
    user's visibility, the same rule as interaction_scope)."""
    q = Q()
    for key, value in filters.items():
        values = list(value) if isinstance(value, list | tuple) else [value]
        if key == "month":
            q &= _any(values, lambda v: _month_range(v) if v else Q(pk__in=[]))
        elif key == "kind":
            q &= Q(kind__in=values)
        elif key == "channel":
            q &= Q(channel__in=[v or "" for v in values])
        elif key == "consultant":
            q &= _any(
                values,
                lambda v: Q(created_by_id=v) if v else Q(created_by__isnull=True),
            )
        elif key == "team":
            q &= _any(
                values,
                lambda v: (
                    Q(created_by__team_id=v)
                    if v
                    else Q(created_by__isnull=True) | Q(created_by__team__isnull=True)
                ),
            )
        else:
            raise KeyError(key)
    return q


SOURCE = insight.Source(
    key=KEY,
    label=_("Follow-up records"),
    model=InteractionFact,
    measures=(Measure("interactions", _("Interactions"), "sum", "interactions"),),
    dimensions=(
        Dimension("month", _("Month"), "month", month=True),
        Dimension("kind", _("Kind"), "kind"),
        Dimension("channel", _("Channel"), "channel"),
        Dimension(
            "consultant", _("Logged by"), "consultant_id", labels=insight.user_names
        ),
        Dimension("team", _("Team"), "team_id", labels=insight.names_of(Team)),
    ),
    see=SEE,
    scope=interaction_scope,
    list_url="customers:interaction-list",
    row_key="id",
    facts=(KEY,),
    order=20,
    # Rows are months of interactions: a report covers whole months.
    period_month="month",
    live=live,
)

insight.register_fact(INTERACTIONS)
insight.register(SOURCE)
