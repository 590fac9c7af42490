from django.db import migrations, models


class Migration(migrations.Migration):
    """The members' random invitation code: a column first, filled by 0005, required
    and unique per campaign by 0006."""

    dependencies = [
        ("customers", "0010_owner_follow_up_name"),
        ("marketing", "0003_merge_0002_campaigns_0002_referrals_partners"),
    ]

    operations = [
        migrations.AddField(
            model_name="campaignmember",
            name="code",
            field=models.CharField(
                editable=False,
                max_length=12,
                null=True,
                verbose_name="invitation code",
            ),
        ),
    ]
