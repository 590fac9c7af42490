"""Triggers for the win/loss facts (crm_site.insight): the stage-duration fact follows
the same live rows as the deal fact, and a deal's first visit follows the customer's
visits. The deal fact gained columns, so it is rebuilt whole by the next refresh."""

from django.db import migrations

from crm_site.insight import trigger_sql

STAGES = "sales.stage_durations"

TRIGGERS = [
    trigger_sql(
        name="stage_duration",
        table="sales_opportunity",
        fact=STAGES,
        columns=[
            "stage",
            "stage_changed_at",
            "project_id",
            "consultant_id",
            "customer_id",
            "created_at",
        ],
    ),
    trigger_sql(
        name="stage_duration_change",
        table="sales_stagechange",
        fact=STAGES,
        key="{row}.opportunity_id",
    ),
    trigger_sql(
        name="stage_duration_customer",
        table="customers_customer",
        fact=STAGES,
        keys_select="SELECT id FROM sales_opportunity WHERE customer_id = {row}.id",
        columns=["source"],
    ),
    trigger_sql(
        name="stage_duration_consultant",
        table="crm_site_user",
        fact=STAGES,
        keys_select="SELECT id FROM sales_opportunity WHERE consultant_id = {row}.id",
        columns=["team_id"],
    ),
    # Only a visit moves a deal's first visit; the condition on the row is constant in
    # the statement's plan, so any other interaction costs no index lookup.
    trigger_sql(
        name="deal_visit",
        table="customers_interaction",
        fact="sales.deals",
        keys_select=(
            "SELECT id FROM sales_opportunity"
            " WHERE customer_id = {row}.customer_id AND {row}.kind = 'visit'"
        ),
        columns=["kind", "occurred_at", "customer_id"],
    ),
]

# A fact whose FactState has no rebuilt_at is rebuilt whole by the next refresh.
REBUILD = (
    "UPDATE crm_site_factstate SET rebuilt_at = NULL WHERE fact = 'sales.deals'",
    migrations.RunSQL.noop,
)


class Migration(migrations.Migration):
    dependencies = [
        ("sales", "0025_win_loss_facts"),
        ("crm_site", "0018_insight_facts"),
        ("customers", "0018_telephony_calls"),
    ]

    operations = [
        *(migrations.RunSQL(forward, reverse) for forward, reverse in TRIGGERS),
        migrations.RunSQL(*REBUILD),
    ]
