"""Notifications the system wrote as prose become events (crm_site.events)."""

from django.db import migrations


def forwards(apps, schema_editor):
    from crm_site.events_legacy import events_from_text

    Notification = apps.get_model("crm_site", "Notification")
    events_from_text(Notification, text_field="message")


class Migration(migrations.Migration):
    dependencies = [("crm_site", "0011_notification_event")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
