"""Every notice and invitation gets its own idempotency key; each reminder already
sent (or claimed) becomes a SurveyReminder row (crm_site.outbox)."""

from django.db import migrations

UNKNOWN_ERROR = "Interrupted while sending; the provider cannot say whether it was sent."


def forwards(apps, schema_editor):
    for name in ("HandoverNotice", "SurveyInvitation"):
        table = apps.get_model("service", name)._meta.db_table
        schema_editor.execute(
            f"UPDATE {table} SET idempotency_key = gen_random_uuid() "
            "WHERE idempotency_key IS NULL"
        )
    invitations = apps.get_model("service", "SurveyInvitation")._meta.db_table
    reminders = apps.get_model("service", "SurveyReminder")._meta.db_table
    columns = (
        "invitation_id, status, channel, attempts, next_attempt_at, claimed_at, "
        "sent_at, idempotency_key, message_id, error, created_at"
    )
    # Reminded: sent. Claimed but never recorded as sent: nobody knows (parked).
    schema_editor.execute(
        f"INSERT INTO {reminders} ({columns}) "
        "SELECT id, 'sent', '', 1, reminded_at, reminded_at, reminded_at, "
        "gen_random_uuid(), '', '', reminded_at "
        f"FROM {invitations} WHERE reminded_at IS NOT NULL"
    )
    schema_editor.execute(
        f"INSERT INTO {reminders} ({columns}) "
        "SELECT id, 'unknown', '', 1, reminder_claimed_at, reminder_claimed_at, NULL, "
        "gen_random_uuid(), '', %s, reminder_claimed_at "
        f"FROM {invitations} "
        "WHERE reminded_at IS NULL AND reminder_claimed_at IS NOT NULL",
        [UNKNOWN_ERROR],
    )


def backwards(apps, schema_editor):
    Reminder = apps.get_model("service", "SurveyReminder")
    Invitation = apps.get_model("service", "SurveyInvitation")
    for reminder in Reminder.objects.exclude(status="pending").iterator():
        Invitation.objects.filter(pk=reminder.invitation_id).update(
            reminder_claimed_at=reminder.claimed_at or reminder.created_at
        )


class Migration(migrations.Migration):
    dependencies = [("service", "0010_outbox_fields_survey_reminders")]

    operations = [migrations.RunPython(forwards, backwards)]
