"""Customer value (识别利润贡献度最高的客户): what each customer brought and cost.

The customers app owns the figure but knows nothing of deals, referrals or repairs:
the other apps register **contributions** here in their ``AppConfig.ready()``, each an
amount per customer id in one of three parts:

- ``contracted``: the agreed price of the customer's deals under contract (sales);
- ``referred``: the contracted value of the buyers the customer referred (marketing);
- ``cost``: what serving the customer cost (service: work orders, less chargebacks).

A contribution gives SQL (``SELECT customer_id, amount, project_id, at … WHERE
{where}``, where ``{where}`` restricts ``customer_expr`` to a set of ids, or is TRUE)
or a function ``(ids or None) -> {customer id: amount}``. The fact table
``customers.value`` (CustomerValue, one row per live, identifiable customer) is kept by the
explorer's refresh (crm_site.insight): triggers on the tables a contribution reads
mark the customer dirty — each app puts its triggers in its own migration — and the
refresh recomputes the row within a minute. A merge moves deals, referrals and
requests to the survivor: the triggers see those updates, so the value moves too.

The score and the tier
----------------------
``score = contracted + REFERRAL_WEIGHT × referred − cost`` (CNY). The tier is the
ValueTier with the highest threshold the score reaches; the lowest tier also takes
every score below its threshold. Tiers are edited in the admin (defaults 钻石 ≥ 1000万,
黄金 ≥ 500万, 白银 ≥ 200万, 普通 below); saving one re-tiers every customer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from crm_site import insight
from crm_site.insight import Dimension, Kind, Measure
from crm_site.lookups import IdArray

FACT = "customers.value"
PARTS = ("contracted", "referred", "cost")

# Who sees customers' value figures, the top customers list and the value explorer:
# a see permission meant for sales management, service management and marketing
# (and the executive and the administrator). Everyone who may open a customer sees
# the tier.
SEE_VALUE = "customers.view_customer_value"


def referral_weight() -> Decimal:
    """How much a referred buyer's contracted value counts towards the referrer's
    score (setting CUSTOMER_VALUE_REFERRAL_WEIGHT, default 0.5). A change takes effect
    after ``manage.py insight_rebuild customers.value``."""
    return Decimal(str(getattr(settings, "CUSTOMER_VALUE_REFERRAL_WEIGHT", "0.5")))


def may_see_value(user) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and user.has_perm(SEE_VALUE)


# --- The registry of contributions -----------------------------------------------------


@dataclass(frozen=True)
class Contribution:
    key: str
    label: Any
    part: str
    # SELECT customer_id, amount, project_id, at … WHERE {where}: four columns (the
    # last two may be NULL; the first contracted row by ``at`` names the project).
    sql: str | None = None
    # The expression ``{where}`` restricts to the refreshed ids (e.g. o.customer_id).
    customer_expr: str = ""
    # Or a function: ids (None: every customer) -> {customer id: amount}.
    function: Callable[[list[int] | None], dict[int, Decimal]] | None = None

    def __post_init__(self) -> None:
        if self.part not in PARTS:
            raise ValueError(f"unknown part {self.part!r}")
        if (self.sql is None) == (self.function is None):
            raise ValueError("a contribution gives either sql or a function")
        if self.sql is not None and not self.customer_expr:
            raise ValueError("sql contributions name their customer_expr")


_CONTRIBUTIONS: dict[str, Contribution] = {}
# Project names for the list's filter and the explorer: [(id, name)], registered by
# the app that owns projects.
_PROJECTS: list[Callable[[], list[tuple[int, str]]]] = []


def register_contribution(contribution: Contribution) -> Contribution:
    _CONTRIBUTIONS[contribution.key] = contribution
    return contribution


def unregister_contribution(key: str) -> None:
    _CONTRIBUTIONS.pop(key, None)


def contributions() -> list[Contribution]:
    return sorted(_CONTRIBUTIONS.values(), key=lambda c: c.key)


def register_projects(choices: Callable[[], list[tuple[int, str]]]) -> None:
    if choices not in _PROJECTS:
        _PROJECTS.append(choices)


def project_choices() -> list[tuple[int, str]]:
    return [pair for choices in _PROJECTS for pair in choices()]


# --- The fact table --------------------------------------------------------------------


def _parts_sql(keyed: bool, with_functions: bool) -> str:
    selects = []
    for c in contributions():
        if c.sql is None:
            continue
        where = f"{c.customer_expr} = ANY(%(keys)s)" if keyed else "TRUE"
        sql = c.sql.replace("{where}", where)
        selects.append(
            f"SELECT '{c.part}'::text, s.* FROM ({sql}) AS s(customer_id, amount,"
            " project_id, at)"
        )
    if with_functions:
        selects.append(
            "SELECT f.part, f.customer_id, f.amount, NULL::bigint, NULL::timestamptz"
            " FROM unnest(%(fn_parts)s::text[], %(fn_ids)s::bigint[],"
            " %(fn_amounts)s::numeric[]) AS f(part, customer_id, amount)"
        )
    if not selects:
        selects.append(
            "SELECT NULL::text, NULL::bigint, NULL::numeric, NULL::bigint,"
            " NULL::timestamptz WHERE FALSE"
        )
    return "\n  UNION ALL ".join(selects)


def select_sql(*, keyed: bool, with_functions: bool) -> str:
    """The fact's rows: every live, identifiable customer (keyed: those in
    %(keys)s), their parts summed, the score and the tier it reaches. Anonymised
    customers are left out, as from every list and segment."""
    customers = "c.id = ANY(%(keys)s)" if keyed else "TRUE"
    return f"""
WITH parts(part, customer_id, amount, project_id, at) AS (
  {_parts_sql(keyed, with_functions)}
), sums AS (
  SELECT customer_id,
         COALESCE(SUM(amount) FILTER (WHERE part = 'contracted'), 0) AS contracted,
         COALESCE(SUM(amount) FILTER (WHERE part = 'referred'), 0) AS referred,
         COALESCE(SUM(amount) FILTER (WHERE part = 'cost'), 0) AS cost,
         (array_agg(project_id ORDER BY at, project_id) FILTER (
             WHERE part = 'contracted' AND project_id IS NOT NULL))[1] AS project_id
  FROM parts GROUP BY customer_id
)
SELECT c.id, v.contracted, v.referred, v.cost, v.score,
       COALESCE(
         (SELECT t.id FROM customers_valuetier t WHERE t.min_score <= v.score
          ORDER BY t.min_score DESC LIMIT 1),
         (SELECT t.id FROM customers_valuetier t ORDER BY t.min_score LIMIT 1)),
       c.source, s.project_id, c.assigned_consultant_id,
       (c.consent_sms OR c.consent_email OR c.consent_phone),
       c.stage IN ('buyer', 'owner')
FROM customers_customer c
LEFT JOIN sums s ON s.customer_id = c.id
CROSS JOIN LATERAL (
  SELECT COALESCE(s.contracted, 0) AS contracted,
         COALESCE(s.referred, 0) AS referred,
         COALESCE(s.cost, 0) AS cost,
         COALESCE(s.contracted, 0) + %(weight)s * COALESCE(s.referred, 0)
           - COALESCE(s.cost, 0) AS score
) v
WHERE c.merged_into_id IS NULL AND c.anonymised_at IS NULL AND {customers}
"""


def _function_params(keys: Sequence[int] | None) -> dict[str, list]:
    parts: list[str] = []
    ids: list[int] = []
    amounts: list[Decimal] = []
    for c in contributions():
        if c.function is None:
            continue
        for customer_id, amount in c.function(
            list(keys) if keys is not None else None
        ).items():
            parts.append(c.part)
            ids.append(customer_id)
            amounts.append(Decimal(amount))
    return {"fn_parts": parts, "fn_ids": ids, "fn_amounts": amounts}


class ValueFact(insight.FactTable):
    """customers.value: its SELECT is put together from the contributions registered
    when it runs (apps register theirs after customers is ready)."""

    def _with_functions(self) -> bool:
        return any(c.function is not None for c in contributions())

    def select(self, *, keyed: bool) -> str:
        return select_sql(keyed=keyed, with_functions=self._with_functions())

    def params(self, keys: Sequence[int] | None) -> dict[str, Any]:
        params = super().params(keys)
        params["weight"] = referral_weight()
        if self._with_functions():
            params.update(_function_params(keys))
        return params


def _fact() -> ValueFact:
    from customers.models import CustomerValue

    return ValueFact(
        key=FACT,
        label=_("Customer value"),
        model=CustomerValue,
        key_column="customer_id",
        key_expr="c.id",
        select_sql="",
    )


#: The tiers a new installation starts with (customers/migrations/0020 creates them),
#: as (name, from score in CNY, badge style): edited in the admin afterwards.
DEFAULT_TIERS = [
    ("钻石", Decimal("10000000"), "dark"),
    ("黄金", Decimal("5000000"), "warning"),
    ("白银", Decimal("2000000"), "secondary"),
    ("普通", Decimal("0"), "light"),
]


def default_tiers_create() -> bool:
    """Create the default tiers when there are none (a new installation, an emptied
    table); False when tiers exist, which are never touched."""
    from customers.models import ValueTier

    if ValueTier.objects.exists():
        return False
    ValueTier.objects.bulk_create(
        ValueTier(name=name, min_score=min_score, style=style)
        for name, min_score, style in DEFAULT_TIERS
    )
    return True


def rebuild_fact() -> int:
    """Recompute every customer's value (manage.py insight_rebuild customers.value)."""
    return insight.rebuild(only=[FACT])[FACT]


@transaction.atomic
def value_tiers_apply() -> int:
    """Give every customer the tier their score reaches under the tiers as they are
    now (after a tier is added, changed or deleted); one statement, run twice it
    changes nothing."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
UPDATE customers_customervalue v SET tier_id = t.id
FROM (
  SELECT v2.customer_id, COALESCE(
    (SELECT t.id FROM customers_valuetier t WHERE t.min_score <= v2.score
     ORDER BY t.min_score DESC LIMIT 1),
    (SELECT t.id FROM customers_valuetier t ORDER BY t.min_score LIMIT 1)) AS id
  FROM customers_customervalue v2
) t
WHERE t.customer_id = v.customer_id AND v.tier_id IS DISTINCT FROM t.id
"""
        )
        return cursor.rowcount


def tier_for(score: Decimal, tiers: Iterable) -> Any:
    """The tier a score reaches (the rule the SQL applies, for tests and previews):
    the highest threshold at or below the score, else the lowest tier."""
    ordered = sorted(tiers, key=lambda t: t.min_score)
    if not ordered:
        return None
    reached = [t for t in ordered if t.min_score <= score]
    return reached[-1] if reached else ordered[0]


# --- Who sees what ---------------------------------------------------------------------


def value_scope(user) -> Q:
    """The value rows a user may count: the customers of their customer list
    (Customer.visible_to's rule, on the columns the row copies from the customer), and
    only for the roles that see value."""
    from customers.models import CustomerAccess

    if not may_see_value(user) or not user.has_perm("customers.view_customer"):
        return Q(pk__in=[])
    if user.has_perm("customers.scope_all"):
        return Q()
    clauses = Q(pk__in=[])
    if user.has_perm("customers.scope_team") and user.team_id:
        members = IdArray(user.team_member_ids())
        shared = CustomerAccess.objects.filter(user_id__any_of=members)
        clauses |= (
            Q(consultant_id__any_of=members)
            | Q(customer_id__in=shared.values("customer_id"))
            | Q(consultant_id__isnull=True)
        )
    if user.has_perm("customers.scope_own"):
        shared = CustomerAccess.objects.filter(user=user)
        clauses |= (
            Q(consultant_id=user.pk)
            | Q(customer_id__in=shared.values("customer_id"))
            | Q(consultant_id__isnull=True)
        )
    if user.has_perm("customers.scope_consented"):
        clauses |= Q(consented=True)
    if user.has_perm("customers.scope_service"):
        clauses |= Q(service=True)
    return clauses


def top_customers(
    *, user, tier: int | None = None, project: int | None = None
) -> QuerySet:
    """The customers the user may see with a value row, highest score first (the
    value_score index, or value_tier / value_project when filtered)."""
    from customers.models import Customer

    qs = (
        Customer.objects.visible_to(user)
        .identifiable()
        .filter(value__score__isnull=False)
        .select_related("value", "value__tier", "assigned_consultant")
    )
    if tier is not None:
        qs = qs.filter(value__tier_id=tier)
    if project is not None:
        qs = qs.filter(value__project_id=project)
    return qs.order_by("-value__score", "-pk")


# --- The explorer's source -------------------------------------------------------------


def _project_names(values: list) -> dict:
    wanted = set(values)
    return {pk: name for pk, name in project_choices() if pk in wanted}


def register() -> None:
    from customers.models import Customer, CustomerValue, ValueTier

    insight.register_fact(_fact())
    money = {"kind": Kind.MONEY, "decimals": 2}
    insight.register(
        insight.Source(
            key=FACT,
            label=_("Customer value"),
            model=CustomerValue,
            measures=(
                Measure("customers", _("Customers"), "count"),
                Measure("score", _("Value score"), "sum", "score", **money),
                Measure(
                    "contracted", _("Contracted value"), "sum", "contracted", **money
                ),
                Measure("referred", _("Referred value"), "sum", "referred", **money),
                Measure("cost", _("Service cost"), "sum", "cost", **money),
            ),
            dimensions=(
                Dimension(
                    "tier",
                    _("Value tier"),
                    "tier_id",
                    labels=insight.names_of(ValueTier),
                ),
                Dimension(
                    "channel",
                    _("Source channel"),
                    "channel",
                    labels=insight.choice_labels(Customer.Source.choices),
                ),
                Dimension(
                    "project",
                    _("First contracted project"),
                    "project_id",
                    labels=_project_names,
                ),
            ),
            see=SEE_VALUE,
            scope=value_scope,
            list_url="customers:customer-list",
            row_key="customer_id",
            facts=(FACT,),
            order=40,
        )
    )
