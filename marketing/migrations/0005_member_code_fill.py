"""Give every existing member a random code. Their old codes were computed from the
member id (anyone could work out another guest's); invitations already sent carry
those, so the door no longer accepts them: the sign-up page of their (still valid)
signed link shows the new code, and the campaign's member list shows every code."""

from django.db import migrations

BATCH = 5000


def fill(apps, schema_editor):
    from marketing.codes import new_code

    Member = apps.get_model("marketing", "CampaignMember")
    while True:
        rows = list(
            Member.objects.filter(code__isnull=True)
            .order_by("pk")
            .values_list("pk", "campaign_id")[:BATCH]
        )
        if not rows:
            return
        taken: dict[int, set[str]] = {}
        for campaign_id in {campaign_id for _pk, campaign_id in rows}:
            taken[campaign_id] = set(
                Member.objects.filter(campaign_id=campaign_id)
                .exclude(code__isnull=True)
                .values_list("code", flat=True)
            )
        updates = []
        for pk, campaign_id in rows:
            code = new_code()
            while code in taken[campaign_id]:
                code = new_code()
            taken[campaign_id].add(code)
            updates.append(Member(pk=pk, code=code))
        Member.objects.bulk_update(updates, ["code"], batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [("marketing", "0004_member_code")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
