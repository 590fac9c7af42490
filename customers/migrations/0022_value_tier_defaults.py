"""The default value tiers (customers.ValueTier), editable in the admin afterwards."""

from decimal import Decimal

from django.db import migrations

DEFAULTS = [
    ("钻石", Decimal("10000000"), "dark"),
    ("黄金", Decimal("5000000"), "warning"),
    ("白银", Decimal("2000000"), "secondary"),
    ("普通", Decimal("0"), "light"),
]


def create(apps, schema_editor):
    ValueTier = apps.get_model("customers", "ValueTier")
    if ValueTier.objects.exists():
        return
    for name, min_score, style in DEFAULTS:
        ValueTier.objects.create(name=name, min_score=min_score, style=style)


class Migration(migrations.Migration):
    dependencies = [("customers", "0021_customer_value")]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
