"""Timeline entries the system wrote as prose become events (crm_site.events)."""

from django.db import migrations
from django.db.models import Q

# The kinds the system writes under; a person's own visit or call is left alone
# unless it is exactly the name of its kind (a walk-in registered without notes).
SYSTEM_KINDS = ["system", "complaint", "survey", "event"]


def forwards(apps, schema_editor):
    from django.conf import settings
    from django.utils import translation

    from crm_site.events_legacy import events_from_text
    from customers.models import Interaction as Current

    labels: set[str] = set()
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            labels |= {str(label) for _value, label in Current.Kind.choices}
    Interaction = apps.get_model("customers", "Interaction")
    events_from_text(
        Interaction,
        text_field="summary",
        candidates=Q(kind__in=SYSTEM_KINDS) | Q(summary__in=sorted(labels)),
    )


class Migration(migrations.Migration):
    dependencies = [("customers", "0014_interaction_event")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
