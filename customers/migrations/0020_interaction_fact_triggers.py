"""The indexes and triggers of the interaction fact (customers.insight_interactions).

- interaction_month_fact_idx: occurred_at with what the fact groups by, so a refresh
  recounts a month (and a rebuild every month) from the index alone, and the follow-up
  records list reads a date range newest first; interaction_author_idx: one author's
  records newest first (the list's consultant filter).
- Triggers mark the months whose counts a change can move: an interaction's own month
  (before and after); the months of a customer's interactions when what decides who
  sees them changes (owner, merge, consent, stage, CustomerAccess); every month when a
  user changes team (they may be an author, an owner or have access anywhere).

The indexes are created here rather than in Interaction.Meta: the fact's helper owns
only these files (move them into the model's Meta with SeparateDatabaseAndState when
convenient).
"""

from django.conf import settings
from django.db import migrations

from crm_site.insight import trigger_sql

KEY = "customers.interactions"
TZ = "'" + settings.TIME_ZONE.replace("'", "''") + "'"


def month_key_sql(column: str, tz: str) -> str:
    """As customers.insight_interactions.month_key_sql (frozen for this migration)."""
    local = f"({column} AT TIME ZONE {tz})"
    return (
        f"(EXTRACT(YEAR FROM {local})::int * 12 + EXTRACT(MONTH FROM {local})::int - 1)"
    )


def _months_of(customer: str) -> str:
    return (
        f"SELECT DISTINCT {month_key_sql('occurred_at', TZ)} FROM customers_interaction"
        f" WHERE customer_id = {customer}"
    )


TRIGGERS = [
    trigger_sql(
        name="interaction",
        table="customers_interaction",
        fact=KEY,
        key=month_key_sql("{row}.occurred_at", TZ),
        columns=["customer_id", "kind", "channel", "occurred_at", "created_by_id"],
    ),
    trigger_sql(
        name="interaction_customer",
        table="customers_customer",
        fact=KEY,
        keys_select=_months_of("{row}.id"),
        columns=[
            "assigned_consultant_id",
            "merged_into_id",
            "stage",
            "consent_sms",
            "consent_email",
            "consent_phone",
        ],
    ),
    trigger_sql(
        name="interaction_access",
        table="customers_customeraccess",
        fact=KEY,
        keys_select=_months_of("{row}.customer_id"),
    ),
    trigger_sql(
        name="interaction_user",
        table="crm_site_user",
        fact=KEY,
        # Only a change of team: a new user has no interactions yet, a deleted one's
        # interactions and customers lose them through their own triggers.
        keys_select=(
            "SELECT DISTINCT month_key FROM customers_interactionfact"
            " WHERE TG_OP = 'UPDATE'"
        ),
        columns=["team_id"],
    ),
]

INDEXES = [
    (
        "CREATE INDEX IF NOT EXISTS interaction_month_fact_idx"
        " ON customers_interaction (occurred_at)"
        " INCLUDE (customer_id, kind, channel, created_by_id)",
        "DROP INDEX IF EXISTS interaction_month_fact_idx",
    ),
    (
        "CREATE INDEX IF NOT EXISTS interaction_author_idx"
        " ON customers_interaction (created_by_id, occurred_at)",
        "DROP INDEX IF EXISTS interaction_author_idx",
    ),
]


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0019_interaction_facts"),
        ("crm_site", "0018_insight_facts"),
    ]

    operations = [
        migrations.RunSQL(forward, reverse) for forward, reverse in INDEXES + TRIGGERS
    ]
