"""Triggers that mark a referrer's value row dirty (customers.value,
marketing.value): a referral recorded, deleted or moved by a merge, and a referred
friend's deal signed, paid, repriced, lost or moved to another customer."""

from django.db import migrations

from crm_site.insight import trigger_sql

TRIGGERS = [
    trigger_sql(
        name="value_referral",
        table="marketing_referral",
        fact="customers.value",
        key="{row}.referrer_id",
        columns=["referrer_id", "friend_id"],
    ),
    trigger_sql(
        name="value_referred_deal",
        table="sales_opportunity",
        fact="customers.value",
        keys_select=(
            "SELECT referrer_id FROM marketing_referral"
            " WHERE friend_id = {row}.customer_id"
        ),
        columns=["customer_id", "stage", "agreed_price"],
    ),
]


class Migration(migrations.Migration):
    dependencies = [
        ("marketing", "0010_member_club"),
        ("sales", "0027_customer_value_triggers"),
    ]

    operations = [
        migrations.RunSQL(forward, reverse) for forward, reverse in TRIGGERS
    ]
