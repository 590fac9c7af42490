from django.db import migrations

# The last reopening of each request, from its steps (a callback sending it back).
BACKFILL = """
UPDATE service_servicerequest r
SET reopened_at = s.last_at
FROM (
    SELECT request_id, MAX("at") AS last_at
    FROM service_servicestep
    WHERE to_status = 'in_progress' AND from_status IN ('resolved', 'called_back')
    GROUP BY request_id
) s
WHERE s.request_id = r.id AND r.reopened_at IS NULL
"""


class Migration(migrations.Migration):
    dependencies = [("service", "0004_request_reopened_at_open_due_index")]

    operations = [migrations.RunSQL(BACKFILL, migrations.RunSQL.noop)]
