"""Sales in the explorer (crm_site.insight): the deal fact table and its source."""

from __future__ import annotations

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm_site import insight
from crm_site.insight import Dimension, Kind, Measure
from sales.models import DealFact, Opportunity

# Stage order for "how far it got": lost is not a place on the way.
_WAY = [s for s in Opportunity.Stage.values if s != Opportunity.Stage.LOST]
_RANK = "CASE {col} " + " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(_WAY))
_RANK += " END"
_WAY_ARRAY = "ARRAY[" + ", ".join(f"'{s}'" for s in _WAY) + "]"

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
       h.contracted_on - (o.created_at AT TIME ZONE %(tz)s)::date
FROM sales_opportunity o
JOIN customers_customer c ON c.id = o.customer_id
JOIN crm_site_user cu ON cu.id = o.consultant_id
LEFT JOIN sales_unit u ON u.id = o.unit_id
LEFT JOIN LATERAL (
    SELECT max({_RANK.format(col="sc.to_stage")}) AS rank,
           (min(sc.changed_at) FILTER (WHERE sc.to_stage = 'contracted')
               AT TIME ZONE %(tz)s)::date AS contracted_on,
           (max(sc.changed_at) FILTER (WHERE sc.to_stage = 'lost')
               AT TIME ZONE %(tz)s)::date AS lost_on
    FROM sales_stagechange sc WHERE sc.opportunity_id = o.id
) h ON TRUE
WHERE {{where}}
""",
)

# The triggers that mark a deal's row dirty: sales/migrations/0024_deal_fact_triggers.


def deal_scope(user) -> Q:
    """The deal facts a user may count: the same rule as Opportunity.visible_to."""
    if not user.is_authenticated or not user.has_perm("sales.view_sales_desk"):
        return Q(pk__in=[])
    if user.has_perm("customers.scope_all"):
        return Q()
    if user.has_perm("sales.view_sales_management") and user.team_id:
        return Q(team_id=user.team_id)
    return Q(consultant_id=user.pk)


def names(model, attr: str = "name"):
    """Labels for ids of a model: one query for all the values of a dimension."""

    def label(values: list) -> dict:
        return {
            obj.pk: str(getattr(obj, attr))
            for obj in model.objects.filter(pk__in=values)
        }

    return label


def user_names(values: list) -> dict:
    from crm_site.models import User

    return {u.pk: u.display_name for u in User.objects.filter(pk__in=values)}


def _dimensions() -> tuple[Dimension, ...]:
    from django.apps import apps

    from crm_site.models import Team
    from customers.models import Customer
    from sales.models import Building, Project

    # Deals point at marketing's campaigns by name too: sales never imports marketing.
    Campaign = apps.get_model("marketing", "Campaign")

    return (
        Dimension("project", _("Project"), "project_id", labels=names(Project)),
        Dimension("building", _("Building"), "building_id", labels=names(Building)),
        Dimension("layout", _("Layout"), "layout"),
        Dimension("consultant", _("Consultant"), "consultant_id", labels=user_names),
        Dimension("team", _("Team"), "team_id", labels=names(Team)),
        Dimension(
            "channel",
            _("Source channel"),
            "channel",
            labels=lambda values: {
                k: str(v) for k, v in Customer.Source.choices if k in values
            },
        ),
        Dimension("campaign", _("Campaign"), "campaign_id", labels=names(Campaign)),
        Dimension("stage", _("Stage"), "stage"),
        Dimension("reached", _("Stage reached"), "reached"),
        Dimension("lost_reason", _("Lost reason"), "lost_reason"),
        Dimension("month", _("Month opened"), "created_month", month=True),
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
        )
    )
