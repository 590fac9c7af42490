"""Marketing's part of a customer merge: campaign memberships and responses, referrals
and partner registrations follow the surviving customer, and come back on undo.

A campaign the survivor is already a member of keeps the absorbed customer's
membership where it was; a friend is referred once, so when the survivor was already
referred, the absorbed customer's referral stays where it was."""

from __future__ import annotations

from django.db.models import Exists, OuterRef

from customers.signals import follow_merges
from marketing.models import CampaignMember, PartnerRegistration, Referral, Response


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
            ("marketing.response", _responses, "customer"),
            ("marketing.campaignmember", _memberships, "customer"),
            (
                "marketing.referral.referrer",
                lambda absorbed, survivor: Referral.objects.filter(referrer=absorbed),
                "referrer",
            ),
            ("marketing.referral.friend", _friend_referrals, "friend"),
            (
                "marketing.partnerregistration",
                lambda absorbed, survivor: PartnerRegistration.objects.filter(
                    customer=absorbed
                ),
                "customer",
            ),
        ],
    )
