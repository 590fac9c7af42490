"""Triggers that mark an owner's value row dirty (customers.value, service.value): a
work order's cost or status changed, a chargeback added or changed, a request moved
to another customer (a merge) — the old owner and the new one both."""

from django.db import migrations

from crm_site.insight import trigger_sql

_OWNER = "SELECT customer_id FROM service_servicerequest WHERE id = {row}.request_id"

TRIGGERS = [
    trigger_sql(
        name="value_request",
        table="service_servicerequest",
        fact="customers.value",
        key="{row}.customer_id",
        columns=["customer_id"],
    ),
    trigger_sql(
        name="value_work_order",
        table="service_workorder",
        fact="customers.value",
        keys_select=_OWNER,
        columns=["cost", "status", "request_id"],
    ),
    trigger_sql(
        name="value_chargeback",
        table="service_chargeback",
        fact="customers.value",
        keys_select=_OWNER,
        columns=["amount", "request_id"],
    ),
]


class Migration(migrations.Migration):
    dependencies = [
        ("service", "0019_request_work_order_fact_triggers"),
        ("customers", "0023_customer_value_triggers"),
    ]

    operations = [
        migrations.RunSQL(forward, reverse) for forward, reverse in TRIGGERS
    ]
