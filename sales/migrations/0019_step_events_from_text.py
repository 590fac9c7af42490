"""Deal steps and ownership decisions the system explained in prose become events."""

from django.db import migrations


def forwards(apps, schema_editor):
    from crm_site.events_legacy import events_from_text

    events_from_text(apps.get_model("sales", "StageChange"), text_field="note")
    events_from_text(apps.get_model("sales", "OwnershipEvent"), text_field="reason")


class Migration(migrations.Migration):
    dependencies = [("sales", "0018_deal_co_buyers")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
