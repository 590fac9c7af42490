"""Every invitation gets its own idempotency key, and "queued" is called "pending" as
in every other outbox (crm_site.outbox)."""

from django.db import migrations


def forwards(apps, schema_editor):
    Invitation = apps.get_model("marketing", "Invitation")
    table = Invitation._meta.db_table
    schema_editor.execute(
        f"UPDATE {table} SET idempotency_key = gen_random_uuid() "
        "WHERE idempotency_key IS NULL"
    )
    Invitation.objects.filter(status="queued").update(status="pending")


def backwards(apps, schema_editor):
    Invitation = apps.get_model("marketing", "Invitation")
    Invitation.objects.filter(status="pending").update(status="queued")
    # A parked row was 'sending' before: the old pump marked such rows failed.
    Invitation.objects.filter(status="unknown").update(status="failed")


class Migration(migrations.Migration):
    dependencies = [("marketing", "0004_invitation_outbox_fields")]

    operations = [migrations.RunPython(forwards, backwards)]
