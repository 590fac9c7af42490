"""Triggers that mark a customer's value row dirty (customers.value): a customer
created, deleted, merged away or restored, anonymised, or whose source channel
changed. The other apps' migrations add the triggers on what their contributions
read."""

from django.db import migrations

from crm_site.insight import trigger_sql

TRIGGERS = [
    trigger_sql(
        name="value_customer",
        table="customers_customer",
        fact="customers.value",
        columns=["merged_into_id", "anonymised_at", "source"],
    ),
]


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0022_value_tier_defaults"),
        ("crm_site", "0018_insight_facts"),
    ]

    operations = [
        migrations.RunSQL(forward, reverse) for forward, reverse in TRIGGERS
    ]
