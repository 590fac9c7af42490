"""Request steps the system explained in prose become events."""

from django.db import migrations


def forwards(apps, schema_editor):
    from crm_site.events_legacy import events_from_text

    events_from_text(apps.get_model("service", "ServiceStep"), text_field="note")


class Migration(migrations.Migration):
    dependencies = [("service", "0015_record_service_request_permissions")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
