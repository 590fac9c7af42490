"""Marketing's part of a customer merge: campaign memberships and responses, referrals
and partner registrations follow the surviving customer, and come back on undo.

A campaign the survivor is already a member of keeps the absorbed customer's
membership where it was, but its responses are folded into the survivor's: the
survivor's membership holds the person's earliest sign-up and check-in, so the
campaign counts the person once (the figures leave merged-away members out). A friend is referred once, so when the survivor was already
referred, the absorbed customer's referral stays where it was. A referral between the
two records stays where it was too: moved, it would make the person their own
referrer."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils.translation import gettext as _

from customers.models import MergeRecord
from customers.services.merge import MergeRefused
from customers.signals import follow_merges, kept, merged, moved
from marketing.models import CampaignMember, PointEntry, Referral, Response

RESPONSES = "marketing.response.customer"


def _memberships(absorbed, survivor):
    already = CampaignMember.objects.filter(
        campaign_id=OuterRef("campaign_id"), customer=survivor
    )
    return CampaignMember.objects.filter(customer=absorbed).exclude(Exists(already))


# A kind no response has: a survivor's response set aside while the earlier one
# takes its place (the unique member-and-kind index allows no swap in one step).
ASIDE = "aside"


def _twins(absorbed, survivor) -> dict[int, int]:
    """The absorbed customer's memberships of campaigns the survivor is a member of
    too: {absorbed's membership: survivor's membership}."""
    return dict(
        CampaignMember.objects.filter(customer=survivor)
        .filter(
            Exists(
                CampaignMember.objects.filter(
                    campaign_id=OuterRef("campaign_id"), customer=absorbed
                )
            )
        )
        .annotate(
            twin=Subquery(
                CampaignMember.objects.filter(
                    campaign_id=OuterRef("campaign_id"), customer=absorbed
                ).values("pk")[:1]
            )
        )
        .values_list("twin", "pk")
    )


def _swap(*, earlier: Response, later: Response, customers: tuple) -> None:
    """Swap two responses of one kind between their memberships (on a merge the
    earlier goes to the survivor's; on undo, back): ``customers`` are the new
    customers of ``earlier`` and ``later``, their new memberships' own."""
    to_later, to_earlier = later.member_id, earlier.member_id
    rows = Response.objects
    rows.filter(pk=later.pk).update(
        member_id=to_earlier, kind=ASIDE, customer=customers[1]
    )
    rows.filter(pk=earlier.pk).update(member_id=to_later, customer=customers[0])
    rows.filter(pk=later.pk).update(kind=later.kind)


def _merge_responses(*, survivor, absorbed, record):
    """Responses of the memberships that move follow them to the survivor. Where
    both customers were members of a campaign, the absorbed's responses fold into
    the survivor's membership: a kind the survivor lacks moves over; of two of a
    kind the earlier one is kept there, the other set aside on the absorbed's."""
    # Listed before the memberships: found through the memberships still to move.
    plain = list(
        Response.objects.filter(member__in=_memberships(absorbed, survivor))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    Response.objects.filter(pk__in=plain).update(customer=survivor)
    twins = _twins(absorbed, survivor)
    folded: list[list[int]] = []
    swapped: list[list[int]] = []
    if twins:
        kept = {
            (r.member_id, r.kind): r
            for r in Response.objects.select_for_update().filter(
                member_id__in=twins.values()
            )
        }
        theirs = Response.objects.select_for_update().filter(member_id__in=twins)
        for response in theirs.order_by("pk"):
            target = twins[response.member_id]
            other = kept.get((target, response.kind))
            if other is None:
                Response.objects.filter(pk=response.pk).update(
                    member_id=target, customer=survivor
                )
                folded.append([response.pk, response.member_id])
            elif response.at < other.at:
                _swap(earlier=response, later=other, customers=(survivor, absorbed))
                swapped.append([response.pk, other.pk])
    state = {"folded": folded, "swapped": swapped} if folded or swapped else {}
    return {"marketing.response": plain}, state


def _refuse_while_a_later_merge_moved_them(*, survivor, record, moved, state):
    """Two merges into one survivor may be undone in either order, unless the later
    one moved responses the earlier brought over: it swapped one of them off the
    survivor's membership, or put one of its own on a membership the earlier moved.
    Undone first, the earlier would put responses on the wrong person (the later
    one's undo swaps back by the ids it moved), so it waits for the later undo."""
    brought = {
        *(moved.get("marketing.response") or []),
        *(pk for pk, _member in state.get("folded", [])),
        *(earlier for earlier, _later in state.get("swapped", [])),
    }
    memberships = moved.get("marketing.campaignmember") or []
    if not brought and not memberships:
        return
    later = MergeRecord.objects.filter(
        Q(merged_at__gt=record.merged_at)
        | Q(merged_at=record.merged_at, pk__gt=record.pk),
        survivor_id=survivor.pk,
        restored_at__isnull=True,
    ).select_related("absorbed")
    for other in later.order_by("merged_at", "pk"):
        theirs = (other.details or {}).get(RESPONSES) or {}
        swapped = theirs.get("swapped", [])
        placed = [pk for pk, _member in theirs.get("folded", [])] + [
            earlier for earlier, _later in swapped
        ]
        if {later_pk for _earlier, later_pk in swapped} & brought or (
            memberships
            and placed
            and Response.objects.filter(
                pk__in=placed, member_id__in=memberships
            ).exists()
        ):
            raise MergeRefused(
                _(
                    "%(absorbed)s was merged into %(survivor)s later and that merge "
                    "moved campaign responses this one brought over; undo that "
                    "merge first."
                )
                % {
                    "absorbed": f"{other.absorbed.name} (#{other.absorbed_id})",
                    "survivor": f"{survivor.name} (#{survivor.pk})",
                }
            )


def _restore_responses(*, survivor, absorbed, record, moved, state, actor):
    _refuse_while_a_later_merge_moved_them(
        survivor=survivor, record=record, moved=moved, state=state
    )
    for earlier_pk, later_pk in reversed(state.get("swapped", [])):
        earlier = Response.objects.get(pk=earlier_pk)
        later = Response.objects.get(pk=later_pk)
        _swap(earlier=earlier, later=later, customers=(absorbed, survivor))
    for pk, member_id in state.get("folded", []):
        Response.objects.filter(pk=pk).update(member_id=member_id, customer=absorbed)
    ids = moved.get("marketing.response") or []
    Response.objects.filter(pk__in=ids).update(customer=absorbed)


def _referrals_made(absorbed, survivor):
    return Referral.objects.filter(referrer=absorbed).exclude(friend=survivor)


def _friend_referrals(absorbed, survivor):
    if Referral.objects.filter(friend=survivor).exists():
        return Referral.objects.none()
    return Referral.objects.filter(friend=absorbed).exclude(referrer=survivor)


def _move_points(ids: list[int], customer) -> None:
    # The base manager: the ledger's own manager refuses updates, and a merge moves
    # the entries whole without editing one.
    PointEntry._base_manager.filter(pk__in=ids).update(member=customer)


def _in_site_language():
    """Ledger reasons are kept in the site's language: owners read them in the
    portal."""
    from django.conf import settings
    from django.utils import translation

    return translation.override(settings.LANGUAGE_CODE)


def _twin_event_awards(*, survivor, absorbed) -> list[str]:
    """The keys of the absorbed customer's standing event awards for an event the
    survivor holds a standing award of too: one person checked in twice under two
    records earns the event's points once."""
    from marketing.point_sources import EVENT_ATTENDED

    awards = {
        int(key.removeprefix("checkin:")): (member_id, key)
        for member_id, key in PointEntry.objects.filter(
            member__in=[survivor.pk, absorbed.pk],
            kind=PointEntry.Kind.AWARD,
            source=EVENT_ATTENDED,
            key__startswith="checkin:",
        )
        .standing()
        .values_list("member_id", "key")
        if key.removeprefix("checkin:").isdigit()
    }
    if not awards:
        return []
    campaigns = dict(
        Response.objects.filter(pk__in=list(awards)).values_list("pk", "campaign_id")
    )
    held = {
        campaigns.get(pk)
        for pk, (member_id, _key) in awards.items()
        if member_id == survivor.pk
    }
    return [
        key
        for pk, (member_id, key) in sorted(awards.items())
        if member_id == absorbed.pk and pk in campaigns and campaigns[pk] in held
    ]


def _merge_points(*, survivor, absorbed, record):
    """The absorbed customer's points entries go to the survivor, and both balances
    are summed again from the ledger. An event both records were awarded for is
    taken back once (on the absorbed's ledger, before the move); undo gives it back."""
    from marketing.services.club import (
        _lock_members,
        _points_take_back,
        balances_refresh,
    )

    if not PointEntry.objects.filter(member=absorbed).exists():
        return {}, {}
    _lock_members(sorted([survivor.pk, absorbed.pk]))
    taken: list[int] = []
    if twins := _twin_event_awards(survivor=survivor, absorbed=absorbed):
        with _in_site_language():
            reason = _("Merged with a record that has this event's points already.")
        # Only this merge's take-backs: an earlier merge of the two, undone, left
        # its own (answered) on the absorbed's ledger.
        added = _points_take_back(actor=record.merged_by, keys=twins, reason=reason)
        taken = [correction.pk for correction in added]
    ids = list(
        PointEntry.objects.filter(member=absorbed)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    _move_points(ids, survivor)
    balances_refresh([survivor.pk, absorbed.pk])
    return {"marketing.pointentry": ids}, ({"taken_back": taken} if taken else {})


def _restore_points(*, survivor, absorbed, record, moved, state, actor):
    from marketing.services.club import (
        _lock_members,
        balances_refresh,
        correction_answering,
    )

    ids = moved.get("marketing.pointentry") or []
    if not ids:
        return
    _lock_members(sorted([survivor.pk, absorbed.pk]))
    _move_points(ids, absorbed)
    # Two records again: each has its event's points. The ledger is append-only,
    # so the merge's take-back is answered by a correction of its own, once.
    taken = PointEntry.objects.filter(pk__in=state.get("taken_back") or []).unanswered()
    with _in_site_language():
        reason = _("The merge was undone.")
    for correction in taken.order_by("pk"):
        correction_answering(
            correction, member_id=absorbed.pk, reason=reason, actor=actor
        )
    balances_refresh([survivor.pk, absorbed.pk])


def connect() -> None:
    follow_merges(
        "marketing",
        [
            merged(
                "marketing.response.customer",
                rule="A response follows its campaign membership; where both "
                "customers were members of a campaign, the absorbed's responses fold "
                "into the survivor's membership (the earliest of each kind kept).",
                merge=_merge_responses,
                restore=_restore_responses,
            ),
            merged(
                "marketing.campaignmember.customer",
                rule="One membership per campaign and customer: where the survivor "
                "is already a member, the absorbed's membership stays where it was.",
                rows=_memberships,
            ),
            merged(
                "marketing.referral.referrer",
                rule="A customer never refers themselves: the absorbed customer's "
                "referral of the survivor stays where it was (no reward on their "
                "own deal); the others follow the survivor.",
                rows=_referrals_made,
                key="marketing.referral.referrer",
            ),
            merged(
                "marketing.referral.friend",
                rule="A friend is referred once: when the survivor was already "
                "referred, the absorbed customer's referral stays where it was; so "
                "does one by the survivor (a customer never refers themselves).",
                rows=_friend_referrals,
                key="marketing.referral.friend",
            ),
            moved("marketing.partnerregistration.customer"),
            moved("marketing.recommendation.owner"),
            merged(
                "marketing.pointentry.member",
                rule="The absorbed customer's points entries go to the survivor, "
                "whole (no entry is edited); both balances are summed again.",
                merge=_merge_points,
                restore=_restore_points,
                key="marketing.pointentry",
            ),
            kept(
                "marketing.clubmember.customer",
                reason="A balance is the sum of the customer's ledger: the points "
                "entries' rule sums both customers' balances again.",
            ),
        ],
    )
