"""Marketing's part of a customer merge: campaign memberships and responses, referrals
and partner registrations follow the surviving customer, and come back on undo.

A campaign the survivor is already a member of keeps the absorbed customer's
membership where it was; a friend is referred once, so when the survivor was already
referred, the absorbed customer's referral stays where it was."""

from __future__ import annotations

from django.db.models import Exists, OuterRef

from customers.signals import follow_merges, merged, moved
from marketing.models import CampaignMember, Referral, Response


def _memberships(absorbed, survivor):
    already = CampaignMember.objects.filter(
        campaign_id=OuterRef("campaign_id"), customer=survivor
    )
    return CampaignMember.objects.filter(customer=absorbed).exclude(Exists(already))


def _responses(absorbed, survivor):
    # Listed before the memberships: found through the memberships still to move.
    return Response.objects.filter(member__in=_memberships(absorbed, survivor))


def _friend_referrals(absorbed, survivor):
    if Referral.objects.filter(friend=survivor).exists():
        return Referral.objects.none()
    return Referral.objects.filter(friend=absorbed)


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
            moved("marketing.referral.referrer", key="marketing.referral.referrer"),
            merged(
                "marketing.referral.friend",
                rule="A friend is referred once: when the survivor was already "
                "referred, the absorbed customer's referral stays where it was.",
                rows=_friend_referrals,
                key="marketing.referral.friend",
            ),
            moved("marketing.partnerregistration.customer"),
        ],
    )
