import django.contrib.postgres.functions
import django.db.models.functions.comparison
import django.db.models.functions.text
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("marketing", "0005_member_code_fill")]

    operations = [
        migrations.AlterField(
            model_name="campaignmember",
            name="code",
            field=models.CharField(
                db_default=django.db.models.functions.text.Upper(
                    django.db.models.functions.text.Left(
                        django.db.models.functions.text.Replace(
                            django.db.models.functions.comparison.Cast(
                                django.contrib.postgres.functions.RandomUUID(),
                                output_field=models.CharField(),
                            ),
                            models.Value("-"),
                            models.Value(""),
                        ),
                        12,
                    )
                ),
                editable=False,
                max_length=12,
                verbose_name="invitation code",
            ),
        ),
        migrations.AddConstraint(
            model_name="campaignmember",
            constraint=models.UniqueConstraint(
                fields=("campaign", "code"), name="campaign_member_code_unique"
            ),
        ),
    ]
