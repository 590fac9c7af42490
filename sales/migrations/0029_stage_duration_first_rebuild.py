from django.db import migrations

# The new column is filled by recomputing the fact: a fact whose FactState has no
# rebuilt_at is rebuilt whole by the next refresh (crm_site.insight.refresh).
REBUILD = (
    "UPDATE crm_site_factstate SET rebuilt_at = NULL"
    " WHERE fact = 'sales.stage_durations'",
    migrations.RunSQL.noop,
)


class Migration(migrations.Migration):
    dependencies = [
        ("sales", "0028_stage_duration_first"),
        ("crm_site", "0018_insight_facts"),
    ]

    operations = [migrations.RunSQL(*REBUILD)]
