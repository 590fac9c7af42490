from decimal import Decimal

from django.db import migrations, models


class Migration(migrations.Migration):
    """Schema: what each approved change kept (forfeit) and, per deal, what its
    changes kept of the money received (forfeited); filled in by 0040."""

    dependencies = [
        ("sales", "0038_commission_waived"),
    ]

    operations = [
        migrations.AddField(
            model_name="dealchange",
            name="forfeit",
            field=models.DecimalField(
                decimal_places=2,
                default=Decimal("0"),
                max_digits=14,
                verbose_name="forfeit",
            ),
        ),
        migrations.AddField(
            model_name="opportunity",
            name="forfeited",
            field=models.DecimalField(
                decimal_places=2,
                default=Decimal("0"),
                max_digits=14,
                verbose_name="forfeited",
            ),
        ),
    ]
