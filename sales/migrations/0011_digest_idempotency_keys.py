"""Every digest gets its own idempotency key (crm_site.outbox)."""

from django.db import migrations


def fill_keys(apps, schema_editor):
    table = apps.get_model("sales", "FollowUpDigest")._meta.db_table
    schema_editor.execute(
        f"UPDATE {table} SET idempotency_key = gen_random_uuid() "
        "WHERE idempotency_key IS NULL"
    )


class Migration(migrations.Migration):
    dependencies = [("sales", "0010_digest_outbox_fields")]

    operations = [migrations.RunPython(fill_keys, migrations.RunPython.noop)]
