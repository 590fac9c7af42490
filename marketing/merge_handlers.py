"""Marketing's part of a customer merge: campaign memberships and responses, referrals
and partner registrations follow the surviving customer, and come back on undo.

A campaign the survivor is already a member of keeps the absorbed customer's
membership where it was; a friend is referred once, so when the survivor was already
referred, the absorbed customer's referral stays where it was. A referral between the
two records stays where it was too: moved, it would make the person their own
referrer."""

from __future__ import annotations

from django.db.models import Exists, OuterRef

from customers.signals import follow_merges, kept, merged, moved
from marketing.models import CampaignMember, PointEntry, Referral, Response


def _memberships(absorbed, survivor):
    already = CampaignMember.objects.filter(
        campaign_id=OuterRef("campaign_id"), customer=survivor
    )
    return CampaignMember.objects.filter(customer=absorbed).exclude(Exists(already))


def _responses(absorbed, survivor):
    # Listed before the memberships: found through the memberships still to move.
    return Response.objects.filter(member__in=_memberships(absorbed, survivor))


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


def _merge_points(*, survivor, absorbed, record):
    """The absorbed customer's points entries go to the survivor, and both balances
    are summed again from the ledger."""
    from marketing.services.club import _lock_members, balances_refresh

    ids = list(
        PointEntry.objects.filter(member=absorbed)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not ids:
        return {}, {}
    _lock_members(sorted([survivor.pk, absorbed.pk]))
    _move_points(ids, survivor)
    balances_refresh([survivor.pk, absorbed.pk])
    return {"marketing.pointentry": ids}, {}


def _restore_points(*, survivor, absorbed, record, moved, state, actor):
    from marketing.services.club import _lock_members, balances_refresh

    ids = moved.get("marketing.pointentry") or []
    if not ids:
        return
    _lock_members(sorted([survivor.pk, absorbed.pk]))
    _move_points(ids, absorbed)
    balances_refresh([survivor.pk, absorbed.pk])


def connect() -> None:
    follow_merges(
        "marketing",
        [
            merged(
                "marketing.response.customer",
                rule="A response follows its campaign membership.",
                rows=_responses,
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
