"""Triggers that mark a buyer's value row dirty (customers.value, sales.value): a
deal signed, paid, repriced or lost, or moved to another customer (a merge, a change
of buyer) — the old buyer and the new one both."""

from django.db import migrations

from crm_site.insight import trigger_sql

TRIGGERS = [
    trigger_sql(
        name="value_deal",
        table="sales_opportunity",
        fact="customers.value",
        key="{row}.customer_id",
        columns=["customer_id", "stage", "agreed_price", "project_id"],
    ),
]


class Migration(migrations.Migration):
    dependencies = [
        ("sales", "0026_win_loss_fact_triggers"),
        ("customers", "0023_customer_value_triggers"),
    ]

    operations = [
        migrations.RunSQL(forward, reverse) for forward, reverse in TRIGGERS
    ]
