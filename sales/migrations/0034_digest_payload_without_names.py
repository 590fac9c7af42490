from django.db import migrations


class Migration(migrations.Migration):
    """Digests written before names were read at send time kept each customer's
    name: dropped, so no copy outlives an erasure (the e-mail reads names anew)."""

    dependencies = [
        ("sales", "0033_outbox_handed_over"),
    ]

    operations = [
        migrations.RunSQL(
            """
            UPDATE sales_followupdigest
            SET payload = jsonb_set(
                payload,
                '{follow_ups}',
                (
                    SELECT coalesce(jsonb_agg(item - 'name'), '[]'::jsonb)
                    FROM jsonb_array_elements(payload -> 'follow_ups') AS item
                )
            )
            WHERE jsonb_typeof(payload -> 'follow_ups') = 'array'
            """,
            migrations.RunSQL.noop,
        ),
    ]
