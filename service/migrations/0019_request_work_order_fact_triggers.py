"""Triggers that mark service's fact rows dirty when what they are made of changes
(crm_site.insight, service.insight); the refresh job recomputes them within a minute."""

from django.db import migrations

from crm_site.insight import trigger_sql

REQUESTS = "service.requests"
WORK_ORDERS = "service.work_orders"

# The requests of a unit received up to 90 days after this one: whether they repeat
# it depends on this one's unit, category and time.
_FOLLOWERS = (
    "SELECT f.id FROM service_servicerequest f"
    " WHERE {row}.unit_id IS NOT NULL AND f.unit_id = {row}.unit_id"
    " AND f.category = {row}.category AND f.received_at >= {row}.received_at"
    " AND f.received_at <= {row}.received_at + interval '90 days'"
)
_SURVEYED_REQUEST = (
    "SELECT request_id FROM service_surveyinvitation WHERE id = {row}.invitation_id"
)

TRIGGERS = [
    # The request fact --------------------------------------------------------------
    trigger_sql(name="service_request", table="service_servicerequest", fact=REQUESTS),
    trigger_sql(
        name="service_request_repeats",
        table="service_servicerequest",
        fact=REQUESTS,
        keys_select=_FOLLOWERS,
        columns=["unit_id", "category", "received_at"],
    ),
    trigger_sql(
        name="service_request_work",
        table="service_workorder",
        fact=REQUESTS,
        key="{row}.request_id",
        columns=["request_id", "status", "cost", "contractor_id", "created_at"],
    ),
    trigger_sql(
        name="service_request_chargeback",
        table="service_chargeback",
        fact=REQUESTS,
        key="{row}.request_id",
        columns=["request_id", "amount"],
    ),
    trigger_sql(
        name="service_request_invitation",
        table="service_surveyinvitation",
        fact=REQUESTS,
        key="{row}.request_id",
        columns=["request_id"],
    ),
    trigger_sql(
        name="service_request_survey",
        table="service_surveyresponse",
        fact=REQUESTS,
        keys_select=_SURVEYED_REQUEST,
        columns=["invitation_id", "index"],
    ),
    trigger_sql(
        name="service_request_unit",
        table="sales_unit",
        fact=REQUESTS,
        keys_select="SELECT id FROM service_servicerequest WHERE unit_id = {row}.id",
        columns=["building_id"],
    ),
    trigger_sql(
        name="service_request_building",
        table="sales_building",
        fact=REQUESTS,
        keys_select=(
            "SELECT r.id FROM service_servicerequest r"
            " JOIN sales_unit u ON u.id = r.unit_id WHERE u.building_id = {row}.id"
        ),
        columns=["project_id"],
    ),
    # The work-order fact -----------------------------------------------------------
    trigger_sql(name="service_work", table="service_workorder", fact=WORK_ORDERS),
    trigger_sql(
        name="service_work_request",
        table="service_servicerequest",
        fact=WORK_ORDERS,
        keys_select="SELECT id FROM service_workorder WHERE request_id = {row}.id",
        columns=["category", "unit_id", "received_at"],
    ),
    trigger_sql(
        name="service_work_chargeback",
        table="service_chargeback",
        fact=WORK_ORDERS,
        key="{row}.work_order_id",
        columns=["work_order_id", "amount"],
    ),
    trigger_sql(
        name="service_work_invitation",
        table="service_surveyinvitation",
        fact=WORK_ORDERS,
        keys_select=(
            "SELECT id FROM service_workorder WHERE request_id = {row}.request_id"
        ),
        columns=["request_id"],
    ),
    trigger_sql(
        name="service_work_survey",
        table="service_surveyresponse",
        fact=WORK_ORDERS,
        keys_select=(
            "SELECT w.id FROM service_workorder w"
            " JOIN service_surveyinvitation i ON i.request_id = w.request_id"
            " WHERE i.id = {row}.invitation_id"
        ),
        columns=["invitation_id", "index"],
    ),
    trigger_sql(
        name="service_work_unit",
        table="sales_unit",
        fact=WORK_ORDERS,
        keys_select=(
            "SELECT w.id FROM service_workorder w"
            " JOIN service_servicerequest r ON r.id = w.request_id"
            " WHERE r.unit_id = {row}.id"
        ),
        columns=["building_id"],
    ),
    trigger_sql(
        name="service_work_building",
        table="sales_building",
        fact=WORK_ORDERS,
        keys_select=(
            "SELECT w.id FROM service_workorder w"
            " JOIN service_servicerequest r ON r.id = w.request_id"
            " JOIN sales_unit u ON u.id = r.unit_id WHERE u.building_id = {row}.id"
        ),
        columns=["project_id"],
    ),
]


class Migration(migrations.Migration):
    dependencies = [
        ("service", "0018_request_work_order_facts"),
        ("crm_site", "0018_insight_facts"),
        ("sales", "0024_deal_fact_triggers"),
    ]

    operations = [
        migrations.RunSQL(forward, reverse) for forward, reverse in TRIGGERS
    ]
