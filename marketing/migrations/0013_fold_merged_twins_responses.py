"""Fold the responses of merges made before marketing folded them
(marketing.merge_handlers): where both customers of a merge were members of a
campaign, the absorbed customer's responses move to the survivor's membership (the
earliest of each kind kept there), and the merge record keeps what was done, so
undoing the merge puts them back. Merges in the order they were made, so a chain
folds into its last survivor. Running it again folds nothing more.

In a chain A -> B -> C where C was no member, B's membership moved on to C with the
later merge: A's responses fold into that membership, now C's, and the later merges
that moved it list them among the rows they moved (undoing B -> C gives them back
to B with the membership; then undoing A -> B gives them back to A)."""

from django.db import migrations

RELATION = "marketing.response.customer"
RESPONSES = "marketing.response"
MEMBERSHIPS = "marketing.campaignmember"
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


def _memberships(CampaignMember, customer, later):
    """{campaign: (membership, its customer now)} of the customer's memberships as a
    merge into it found them: those it still holds, and those later merges of it
    moved on (to the customer it was merged into, or further down the chain)."""
    given = {
        pk
        for record in later
        if record.absorbed_id == customer
        for pk in (record.moved or {}).get(MEMBERSHIPS, [])
    }
    rows = CampaignMember.objects.filter(customer_id=customer)
    if given:
        rows = rows | CampaignMember.objects.filter(pk__in=given)
    return {
        campaign: (pk, holder)
        for pk, campaign, holder in rows.values_list("pk", "campaign_id", "customer_id")
    }


def _follow_membership(later, membership, came, went):
    """The later merges that moved ``membership`` on list the responses now on it
    (``came``) among what they moved, and no longer those taken off it (``went``):
    each of their undos gives the membership's responses back with it."""
    for record in later:
        moved = record.moved or {}
        if membership not in moved.get(MEMBERSHIPS, []):
            continue
        ids = (set(moved.get(RESPONSES, [])) - set(went)) | set(came)
        record.moved = {**moved, RESPONSES: sorted(ids)}
        if not record.moved[RESPONSES]:
            del record.moved[RESPONSES]
        record.save(update_fields=["moved"])


def fold(apps, schema_editor):
    MergeRecord = apps.get_model("customers", "MergeRecord")
    CampaignMember = apps.get_model("marketing", "CampaignMember")
    Response = apps.get_model("marketing", "Response")
    records = list(
        MergeRecord.objects.filter(restored_at__isnull=True).order_by("merged_at", "pk")
    )
    for index, record in enumerate(records):
        details = record.details or {}
        if details.get(RELATION):
            continue
        later = records[index + 1 :]
        survivor, absorbed = record.survivor_id, record.absorbed_id
        mine = _memberships(CampaignMember, survivor, later)
        twins = {
            pk: mine[campaign]
            for campaign, pk in CampaignMember.objects.filter(
                customer_id=absorbed, campaign_id__in=list(mine)
            ).values_list("campaign_id", "pk")
        }
        if not twins:
            continue
        targets = [target for target, _holder in twins.values()]
        kept = {
            (r.member_id, r.kind): r
            for r in Response.objects.filter(member_id__in=targets)
        }
        folded, swapped = [], []
        came: dict[int, list[int]] = {}
        went: dict[int, list[int]] = {}
        theirs = Response.objects.filter(member_id__in=list(twins)).order_by("pk")
        for response in theirs:
            target, holder = twins[response.member_id]
            other = kept.get((target, response.kind))
            if other is None:
                Response.objects.filter(pk=response.pk).update(
                    member_id=target, customer_id=holder
                )
                folded.append([response.pk, response.member_id])
            elif response.at < other.at:
                _swap(Response, response, other, (holder, absorbed))
                swapped.append([response.pk, other.pk])
                went.setdefault(target, []).append(other.pk)
            else:
                continue
            came.setdefault(target, []).append(response.pk)
        for target in came:
            _follow_membership(later, target, came[target], went.get(target, []))
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
