"""Fold the responses of merges made before marketing folded them
(marketing.merge_handlers): where both customers of a merge were members of a
campaign, the absorbed customer's responses move to the survivor's membership (the
earliest of each kind kept there), and the merge record keeps what was done, so
undoing the merge puts them back. Merges in the order they were made, so a chain
folds into its last survivor. Running it again folds nothing more."""

from django.db import migrations

RELATION = "marketing.response.customer"
ASIDE = "aside"


def _swap(Response, earlier, later, customers):
    to_later, to_earlier = later.member_id, earlier.member_id
    Response.objects.filter(pk=later.pk).update(
        member_id=to_earlier, kind=ASIDE, customer_id=customers[1]
    )
    Response.objects.filter(pk=earlier.pk).update(
        member_id=to_later, customer_id=customers[0]
    )
    Response.objects.filter(pk=later.pk).update(kind=later.kind)


def fold(apps, schema_editor):
    MergeRecord = apps.get_model("customers", "MergeRecord")
    CampaignMember = apps.get_model("marketing", "CampaignMember")
    Response = apps.get_model("marketing", "Response")
    records = MergeRecord.objects.filter(restored_at__isnull=True).order_by(
        "merged_at", "pk"
    )
    for record in records.iterator():
        details = record.details or {}
        if details.get(RELATION):
            continue
        survivor, absorbed = record.survivor_id, record.absorbed_id
        mine = dict(
            CampaignMember.objects.filter(customer_id=survivor).values_list(
                "campaign_id", "pk"
            )
        )
        twins = {
            pk: mine[campaign]
            for campaign, pk in CampaignMember.objects.filter(
                customer_id=absorbed, campaign_id__in=list(mine)
            ).values_list("campaign_id", "pk")
        }
        if not twins:
            continue
        kept = {
            (r.member_id, r.kind): r
            for r in Response.objects.filter(member_id__in=list(twins.values()))
        }
        folded, swapped = [], []
        theirs = Response.objects.filter(member_id__in=list(twins)).order_by("pk")
        for response in theirs:
            target = twins[response.member_id]
            other = kept.get((target, response.kind))
            if other is None:
                Response.objects.filter(pk=response.pk).update(
                    member_id=target, customer_id=survivor
                )
                folded.append([response.pk, response.member_id])
            elif response.at < other.at:
                _swap(Response, response, other, (survivor, absorbed))
                swapped.append([response.pk, other.pk])
        if folded or swapped:
            details[RELATION] = {"folded": folded, "swapped": swapped}
            record.details = details
            record.save(update_fields=["details"])


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0011_mergerecord_details_access_names"),
        ("marketing", "0012_outbox_handed_over"),
    ]

    operations = [migrations.RunPython(fold, migrations.RunPython.noop)]
