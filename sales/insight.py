"""Sales in the explorer (crm_site.insight): the deal fact and the stage-duration fact,
and their sources. The win/loss, time-in-stage and cohort pages read them too
(sales.insight_figures)."""

from __future__ import annotations

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm_site import insight
from crm_site.insight import Dimension, Kind, Measure
from sales.models import DealFact, Opportunity, StageDuration
from sales.querysets import team_deals

# Stage order for "how far it got": lost is not a place on the way.
_WAY = [s for s in Opportunity.Stage.values if s != Opportunity.Stage.LOST]
_RANK = "CASE {col} " + " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(_WAY))
_RANK += " END"
_WAY_ARRAY = "ARRAY[" + ", ".join(f"'{s}'" for s in _WAY) + "]"
# A move to any of these stages means the customer has been to the sales office.
_SINCE_VISIT = ", ".join(
    f"'{s}'" for s in _WAY[_WAY.index(Opportunity.Stage.VISITED) :]
)
# A visit logged this long before a deal opened still counts as the deal's first visit
# (a customer who comes back a year later for another project starts a new cohort).
VISIT_BEFORE_DAYS = 90

DEALS = insight.FactTable(
    key="sales.deals",
    label=_("Deals"),
    model=DealFact,
    key_column="deal_id",
    key_expr="o.id",
    select_sql=f"""
SELECT o.id, o.customer_id, o.project_id, u.building_id, COALESCE(u.layout, ''),
       o.consultant_id, cu.team_id, c.source, o.campaign_id, o.stage,
       ({_WAY_ARRAY})[GREATEST(
           COALESCE({_RANK.format(col="o.stage")}, 0), COALESCE(h.rank, 0)) + 1],
       o.lost_reason,
       date_trunc('month', o.created_at AT TIME ZONE %(tz)s)::date,
       (o.created_at AT TIME ZONE %(tz)s)::date,
       h.contracted_on, h.lost_on, o.agreed_price,
       CASE WHEN o.stage IN ('contracted', 'paid') THEN o.agreed_price END,
       h.contracted_on - (o.created_at AT TIME ZONE %(tz)s)::date,
       CASE WHEN o.stage IN ('contracted', 'paid') THEN 'won'
            WHEN o.stage = 'lost' THEN 'lost' ELSE '' END,
       date_trunc('month', CASE
           WHEN o.stage IN ('contracted', 'paid') THEN COALESCE(
               h.contracted_on, (o.stage_changed_at AT TIME ZONE %(tz)s)::date)
           WHEN o.stage = 'lost' THEN COALESCE(
               h.lost_on, (o.stage_changed_at AT TIME ZONE %(tz)s)::date)
       END)::date,
       (LEAST(v.first_visit, h.visited_at) AT TIME ZONE %(tz)s)::date,
       date_trunc('month', LEAST(v.first_visit, h.visited_at) AT TIME ZONE %(tz)s)::date,
       date_trunc('month', h.subscribed_at AT TIME ZONE %(tz)s)::date,
       date_trunc('month', h.contracted_on)::date
FROM sales_opportunity o
JOIN customers_customer c ON c.id = o.customer_id
JOIN crm_site_user cu ON cu.id = o.consultant_id
LEFT JOIN sales_unit u ON u.id = o.unit_id
LEFT JOIN LATERAL (
    SELECT max({_RANK.format(col="sc.to_stage")}) AS rank,
           (min(sc.changed_at) FILTER (WHERE sc.to_stage = 'contracted')
               AT TIME ZONE %(tz)s)::date AS contracted_on,
           (max(sc.changed_at) FILTER (WHERE sc.to_stage = 'lost')
               AT TIME ZONE %(tz)s)::date AS lost_on,
           min(sc.changed_at) FILTER (
               WHERE sc.to_stage IN ({_SINCE_VISIT})) AS visited_at,
           min(sc.changed_at) FILTER (
               WHERE sc.to_stage IN ('subscribed', 'contracted', 'paid')
           ) AS subscribed_at
    FROM sales_stagechange sc WHERE sc.opportunity_id = o.id
) h ON TRUE
LEFT JOIN LATERAL (
    SELECT min(i.occurred_at) AS first_visit
    FROM customers_interaction i
    WHERE i.customer_id = o.customer_id AND i.kind = 'visit'
      AND i.occurred_at >= o.created_at - interval '{VISIT_BEFORE_DAYS} days'
) v ON TRUE
WHERE {{where}}
""",
)

# The triggers that mark a deal's row dirty: sales/migrations/0024_deal_fact_triggers
# and 0026_win_loss_fact_triggers.

# Every stage in Opportunity.Stage order: a row's id is deal_id * 16 + this place.
_PLACE = "CASE {col} " + " ".join(
    f"WHEN '{s}' THEN {i}" for i, s in enumerate(Opportunity.Stage.values)
)
_PLACE += " END"
_BUCKETS = [
    (1, StageDuration.Bucket.D0),
    (3, StageDuration.Bucket.D1),
    (7, StageDuration.Bucket.D3),
    (14, StageDuration.Bucket.D7),
    (30, StageDuration.Bucket.D14),
    (60, StageDuration.Bucket.D30),
]
_BUCKET = (
    "CASE "
    + " ".join(f"WHEN {{days}} < {limit} THEN '{code}'" for limit, code in _BUCKETS)
    + f" ELSE '{StageDuration.Bucket.D60}' END"
)

_STAGES = tuple(Opportunity.Stage.values)
_BUCKET_BITS = (
    "ARRAY[" + ", ".join(f"'{b}'" for b in StageDuration.BUCKET_BITS) + "]::text[]"
)

# A deal's stays: the first stage from its creation (the first move's from-stage, or
# its stage when it never moved), then each move's to-stage; a stay ends when the next
# begins. History moved before the creation (imported deals) starts the first stay at
# that move. Stays in one stage are summed; a stage the deal is in now has no duration.
STAGE_DURATIONS = insight.FactTable(
    key="sales.stage_durations",
    label=_("Time in stage"),
    model=StageDuration,
    key_column="deal_id",
    key_expr="o.id",
    select_sql=f"""
WITH stays AS (
    SELECT s.deal_id, s.stage, s.entered_at,
           lead(s.entered_at) OVER (
               PARTITION BY s.deal_id ORDER BY s.entered_at, s.seq) AS left_at
    FROM (
        SELECT o.id AS deal_id, COALESCE(f.from_stage, o.stage) AS stage,
               LEAST(o.created_at, f.changed_at) AS entered_at, 0 AS seq
        FROM sales_opportunity o
        LEFT JOIN LATERAL (
            SELECT sc.from_stage, sc.changed_at FROM sales_stagechange sc
            WHERE sc.opportunity_id = o.id ORDER BY sc.changed_at, sc.id LIMIT 1
        ) f ON TRUE
        WHERE {{where}}
        UNION ALL
        SELECT sc.opportunity_id, sc.to_stage, sc.changed_at, sc.id
        FROM sales_stagechange sc JOIN sales_opportunity o ON o.id = sc.opportunity_id
        WHERE {{where}}
    ) s
), per_stage AS (
    SELECT deal_id, stage, min(entered_at) AS entered_at,
           CASE WHEN bool_and(left_at IS NOT NULL) THEN max(left_at) END AS left_at,
           CASE WHEN bool_and(left_at IS NOT NULL) THEN round(sum(
               GREATEST(EXTRACT(EPOCH FROM left_at - entered_at), 0)
           ) / 86400, 2) END AS days
    FROM stays GROUP BY deal_id, stage
), placed AS (
    SELECT p.*, {_PLACE.format(col="p.stage")} AS place,
           CASE WHEN p.days IS NULL THEN '' ELSE {_BUCKET.format(days="p.days")} END
               AS bucket,
           date_trunc('month', p.entered_at AT TIME ZONE %(tz)s)::date AS month
    FROM per_stage p
), bucketed AS (
    SELECT p.*, array_position({_BUCKET_BITS}, p.bucket) - 1 AS bucket_place
    FROM placed p
)
-- The first-row flags: a deal's first stay, and its first of each month entered,
-- of each time bucket, and of each month and bucket (crm_site.insight.Measure);
-- then the deal's latest earlier month entered, overall and in the row's bucket;
-- then the masks of the stages and buckets of the deal's rows before this one.
SELECT p.deal_id * 16 + p.place, p.deal_id, p.stage,
       p.entered_at, p.left_at, p.days, p.bucket,
       o.project_id, o.consultant_id, cu.team_id, c.source, p.month,
       row_number() OVER (PARTITION BY p.deal_id ORDER BY p.entered_at, p.place) = 1,
       row_number() OVER (
           PARTITION BY p.deal_id, p.month ORDER BY p.entered_at, p.place
       ) = 1,
       row_number() OVER (
           PARTITION BY p.deal_id, p.bucket ORDER BY p.entered_at, p.place
       ) = 1,
       row_number() OVER (
           PARTITION BY p.deal_id, p.month, p.bucket ORDER BY p.entered_at, p.place
       ) = 1,
       max(p.month) OVER (
           PARTITION BY p.deal_id ORDER BY p.month
           RANGE BETWEEN UNBOUNDED PRECEDING AND '1 day' PRECEDING
       ),
       max(p.month) OVER (
           PARTITION BY p.deal_id, p.bucket ORDER BY p.month
           RANGE BETWEEN UNBOUNDED PRECEDING AND '1 day' PRECEDING
       ),
       COALESCE(bit_or(1 << p.place) OVER (
           PARTITION BY p.deal_id ORDER BY p.place
           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
       ), 0),
       COALESCE(bit_or(1 << p.place) OVER (
           PARTITION BY p.deal_id, p.bucket ORDER BY p.place
           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
       ), 0),
       COALESCE(bit_or(1 << p.place) OVER (
           PARTITION BY p.deal_id, p.month ORDER BY p.place
           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
       ), 0),
       COALESCE(bit_or(1 << p.bucket_place) OVER (
           PARTITION BY p.deal_id ORDER BY p.bucket_place, p.place
           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
       ), 0),
       COALESCE(bit_or(1 << p.bucket_place) OVER (
           PARTITION BY p.deal_id, p.month ORDER BY p.bucket_place, p.place
           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
       ), 0)
FROM bucketed p
JOIN sales_opportunity o ON o.id = p.deal_id
JOIN customers_customer c ON c.id = o.customer_id
JOIN crm_site_user cu ON cu.id = o.consultant_id
""",
)


def deal_scope(user) -> Q:
    """The deal facts a user may count: the same rule as Opportunity.visible_to, on
    the fact's own project and consultant's team (a consultant's move to another team
    marks their deals' rows dirty, sales/migrations/0024 and 0026): a manager counts
    the deals their list shows, a moved consultant's deals staying with the teams that
    sell the project (sales.querysets.team_deals)."""
    if not user.is_authenticated or not user.has_perm("sales.view_sales_desk"):
        return Q(pk__in=[])
    if user.has_perm("customers.scope_all"):
        return Q()
    if user.has_perm("sales.view_sales_management") and user.team_id:
        return team_deals(user, project="project_id", team="team_id")
    return Q(consultant_id=user.pk)


def _dimensions() -> tuple[Dimension, ...]:
    from django.apps import apps

    from crm_site.models import Team
    from customers.models import Customer
    from sales.models import Building, Project

    # Deals point at marketing's campaigns by name too: sales never imports marketing.
    Campaign = apps.get_model("marketing", "Campaign")

    return (
        Dimension(
            "project", _("Project"), "project_id", labels=insight.names_of(Project)
        ),
        Dimension(
            "building", _("Building"), "building_id", labels=insight.names_of(Building)
        ),
        Dimension("layout", _("Layout"), "layout"),
        Dimension(
            "consultant", _("Consultant"), "consultant_id", labels=insight.user_names
        ),
        Dimension("team", _("Team"), "team_id", labels=insight.names_of(Team)),
        Dimension(
            "channel",
            _("Source channel"),
            "channel",
            labels=insight.choice_labels(Customer.Source.choices),
        ),
        Dimension(
            "campaign", _("Campaign"), "campaign_id", labels=insight.names_of(Campaign)
        ),
        Dimension("stage", _("Stage"), "stage"),
        Dimension("reached", _("Stage reached"), "reached"),
        Dimension("lost_reason", _("Lost reason"), "lost_reason"),
        Dimension("month", _("Month opened"), "created_month", month=True),
        Dimension("outcome", _("Outcome"), "outcome"),
        Dimension("closed_month", _("Month won or lost"), "closed_month", month=True),
        Dimension("visit_month", _("Month of first visit"), "visit_month", month=True),
        Dimension(
            "subscribed_month",
            _("Month subscribed"),
            "subscribed_month",
            month=True,
        ),
        Dimension(
            "contracted_month",
            _("Month contracted"),
            "contracted_month",
            month=True,
        ),
    )


def _stage_dimensions() -> tuple[Dimension, ...]:
    """The deal's own dimensions, by the same keys (a drill keeps its meaning)."""
    by_key = {d.key: d for d in _dimensions()}
    return (
        Dimension("stage", _("Stage"), "stage"),
        by_key["project"],
        by_key["consultant"],
        by_key["team"],
        by_key["channel"],
        Dimension("entered_month", _("Month entered"), "entered_month", month=True),
        Dimension("bucket", _("Time in stage"), "bucket"),
    )


def register() -> None:
    insight.register_fact(DEALS)
    insight.register(
        insight.Source(
            key="sales.deals",
            label=_("Deals"),
            model=DealFact,
            measures=(
                Measure("deals", _("Deals"), "count"),
                Measure(
                    "amount",
                    _("Agreed amount"),
                    "sum",
                    "amount",
                    kind=Kind.MONEY,
                    decimals=2,
                ),
                Measure(
                    "contract_amount",
                    _("Contracted amount"),
                    "sum",
                    "contract_amount",
                    kind=Kind.MONEY,
                    decimals=2,
                ),
                Measure(
                    "days_to_contract",
                    _("Days to contract (average)"),
                    "avg",
                    "days_to_contract",
                    kind=Kind.DURATION,
                    decimals=1,
                ),
            ),
            dimensions=_dimensions(),
            see="sales.view_sales_management",
            scope=deal_scope,
            list_url="sales:opportunity-list",
            row_key="deal_id",
            facts=("sales.deals",),
            order=10,
            # A report covers the deals opened in its period (the month dimension).
            period="created_on",
            period_month="month",
        )
    )
    insight.register_fact(STAGE_DURATIONS)
    insight.register(
        insight.Source(
            key="sales.stage_durations",
            label=_("Time in stage"),
            model=StageDuration,
            measures=(
                # The deal list opens each deal once: a deal counts once in a cell
                # or total, however many of its stages it holds.
                Measure(
                    "deals",
                    _("Deals"),
                    "distinct",
                    "deal_id",
                    unique_with="stage",
                    first="first",
                    varies=("stage", "entered_month", "bucket"),
                    first_per=(
                        (("entered_month",), "first_in_month"),
                        (("bucket",), "first_in_bucket"),
                        (("entered_month", "bucket"), "first_in_month_bucket"),
                    ),
                    runs=(
                        ("first_in_month", "entered_month", "prev_month"),
                        (
                            "first_in_month_bucket",
                            "entered_month",
                            "prev_month_in_bucket",
                        ),
                    ),
                    masks=(
                        ((), "stage", "stages_before", _STAGES),
                        (("bucket",), "stage", "stages_before_in_bucket", _STAGES),
                        (
                            ("entered_month",),
                            "stage",
                            "stages_before_in_month",
                            _STAGES,
                        ),
                        ((), "bucket", "buckets_before", StageDuration.BUCKET_BITS),
                        (
                            ("entered_month",),
                            "bucket",
                            "buckets_before_in_month",
                            StageDuration.BUCKET_BITS,
                        ),
                    ),
                ),
                Measure(
                    "days",
                    _("Days in stage (average)"),
                    "avg",
                    "days",
                    kind=Kind.DURATION,
                    decimals=1,
                ),
                Measure(
                    "days_total",
                    _("Days in stage (total)"),
                    "sum",
                    "days",
                    kind=Kind.DURATION,
                    decimals=1,
                ),
            ),
            dimensions=_stage_dimensions(),
            see="sales.view_sales_management",
            # The same columns and rule as the deals: a manager counts their team's.
            scope=deal_scope,
            list_url="sales:opportunity-list",
            row_key="deal_id",
            facts=("sales.stage_durations",),
            order=11,
            # A report covers the stays entered in its period (as "month entered").
            period="entered_at",
            period_month="entered_month",
        )
    )


def deals_source() -> insight.Source:
    return insight.source_named(DEALS.key)


def stages_source() -> insight.Source:
    return insight.source_named(STAGE_DURATIONS.key)
