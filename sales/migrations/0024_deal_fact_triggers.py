"""Triggers that mark a deal's fact row dirty when what it is made of changes
(crm_site.insight); the refresh job recomputes the row within a minute."""

from django.db import migrations

from crm_site.insight import trigger_sql

TRIGGERS = [
    trigger_sql(name="deal", table="sales_opportunity", fact="sales.deals"),
    trigger_sql(
        name="deal_stage",
        table="sales_stagechange",
        fact="sales.deals",
        key="{row}.opportunity_id",
    ),
    trigger_sql(
        name="deal_customer",
        table="customers_customer",
        fact="sales.deals",
        keys_select="SELECT id FROM sales_opportunity WHERE customer_id = {row}.id",
        columns=["source"],
    ),
    trigger_sql(
        name="deal_consultant",
        table="crm_site_user",
        fact="sales.deals",
        keys_select="SELECT id FROM sales_opportunity WHERE consultant_id = {row}.id",
        columns=["team_id"],
    ),
    trigger_sql(
        name="deal_unit",
        table="sales_unit",
        fact="sales.deals",
        keys_select="SELECT id FROM sales_opportunity WHERE unit_id = {row}.id",
        columns=["building_id", "layout"],
    ),
]


class Migration(migrations.Migration):
    dependencies = [
        ("sales", "0023_deal_facts"),
        ("crm_site", "0018_insight_facts"),
        ("customers", "0018_telephony_calls"),
    ]

    operations = [
        migrations.RunSQL(forward, reverse) for forward, reverse in TRIGGERS
    ]
