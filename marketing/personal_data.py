"""What marketing holds about one customer, for personal-information requests:
campaign memberships, invitations and sign-ups, referrals and partner registrations.
Registered in MarketingConfig.ready().

Memberships and responses hold no personal information beyond the link and stay for
the campaigns' figures; invitations not yet sent are withdrawn. Referral rewards and
partner commissions are accounting records.

A merge leaves some rows on the absorbed record (a campaign membership the survivor
already had, with its invitations and responses; a referral of a friend referred
twice, or between the two records; the club membership): those sections read the
person's absorbed records too. Partner registrations, recommendations and points
entries all follow the survivor.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm_site.personal_data import Erasure, Section, register, rows
from customers.personal_data import absorbed_ids
from marketing.models import (
    CampaignMember,
    ClubMember,
    Invitation,
    PartnerRegistration,
    PointEntry,
    Recommendation,
    Referral,
    Response,
)


def _person(customer: Any) -> list[int]:
    """The customer and the records merged into them: one person."""
    return [customer.pk, *absorbed_ids(customer)]


def _members_of(customer: Any) -> QuerySet:
    return CampaignMember.objects.filter(customer_id__in=_person(customer))


def _invitations_of(customer: Any) -> QuerySet:
    return Invitation.objects.filter(member__customer_id__in=_person(customer))


def _responses_of(customer: Any) -> QuerySet:
    return Response.objects.filter(customer_id__in=_person(customer))


def _members(customer: Any) -> list[dict]:
    return rows(
        _members_of(customer).order_by("added_at", "pk"),
        [
            ("campaign__name", _("campaign")),
            ("campaign__kind", _("type")),
            ("added_at", _("added")),
        ],
    )


def _kept_members(customer: Any) -> dict[str, int]:
    ids = _person(customer)
    return {
        "members": CampaignMember.objects.filter(customer_id__in=ids).count()
        + Response.objects.filter(customer_id__in=ids).count()
    }


def _invitations(customer: Any) -> list[dict]:
    return rows(
        _invitations_of(customer).order_by("created_at", "pk"),
        [
            ("campaign__name", _("campaign")),
            "channel",
            "status",
            ("sent_at", _("sent")),
        ],
    )


def _anonymise_invitations(customer: Any, *, erasure: Erasure) -> int:
    return (
        _invitations_of(customer)
        .filter(status=Invitation.Status.PENDING)
        .update(status=Invitation.Status.WITHDRAWN)
    )


def _responses(customer: Any) -> list[dict]:
    return rows(
        _responses_of(customer).order_by("at", "pk"),
        [
            ("campaign__name", _("campaign")),
            "kind",
            "at",
            ("recorded_by", _("recorded by")),
            "lead_consultant",
        ],
    )


def _referrals_of(customer: Any) -> QuerySet:
    ids = _person(customer)
    return Referral.objects.filter(Q(referrer_id__in=ids) | Q(friend_id__in=ids))


def _referrals(customer: Any) -> list[dict]:
    # The other party is named by record number only: their name is theirs.
    return rows(
        _referrals_of(customer).order_by("recorded_at", "pk"),
        [
            ("referrer", _("referrer (customer number)")),
            ("friend", _("friend (customer number)")),
            ("project__name", _("project")),
            "name_given",
            "note",
            "recorded_at",
            ("reward__amount", _("reward")),
            ("reward__status", _("reward status")),
        ],
    )


def _anonymise_referrals(customer: Any, *, erasure: Erasure) -> int:
    return (
        _referrals_of(customer)
        .exclude(note="", name_given="")
        .update(note="", name_given="")
    )


def _kept_referrals(customer: Any) -> dict[str, int]:
    return {"referrals": _referrals_of(customer).count()}


def _partner_registrations(customer: Any) -> list[dict]:
    return rows(
        PartnerRegistration.objects.filter(customer=customer).order_by(
            "created_at", "pk"
        ),
        [
            ("partner__name", _("channel partner")),
            ("project__name", _("project")),
            ("created_at", _("registered")),
        ],
    )


def _anonymise_partner_registrations(customer: Any, *, erasure: Erasure) -> int:
    # The name and number the broker typed: the commission needs the link, not them.
    return (
        PartnerRegistration.objects.filter(customer=customer)
        .exclude(name_given="", mobile_given="")
        .update(name_given="", mobile_given="")
    )


def _kept_partner_registrations(customer: Any) -> dict[str, int]:
    return {"partners": PartnerRegistration.objects.filter(customer=customer).count()}


def _points(customer: Any) -> list[dict]:
    return rows(
        PointEntry.objects.filter(member=customer).order_by("occurred_at", "pk"),
        ["occurred_at", "kind", "source", "points", "reason"],
    )


def _kept_points(customer: Any) -> dict[str, int]:
    # A merge keeps the absorbed record's club membership (its balance summed again).
    return {
        "points": PointEntry.objects.filter(member=customer).count()
        + ClubMember.objects.filter(customer_id__in=_person(customer)).count()
    }


def _recommendations(customer: Any) -> list[dict]:
    return rows(
        Recommendation.objects.filter(owner=customer).order_by("created_at", "pk"),
        ["created_at", "name_given", "mobile_given", "outcome"],
    )


def _anonymise_recommendations(customer: Any, *, erasure: Erasure) -> int:
    # The friend's name and number as the owner typed them: the friend's data,
    # held only because of this owner; and, the customer being the friend, theirs
    # (whether it became their referral or was declined: found by their number).
    return (
        Recommendation.objects.filter(
            Q(owner=customer)
            | Q(referral__friend_id__in=_person(customer))
            | Q(mobile_given__in=erasure.texts)
        )
        .exclude(name_given="", mobile_given="")
        .update(name_given="", mobile_given="")
    )


def _related(customer: Any) -> dict[str, list[int]]:
    # A reward's description names the referrer and the friend.
    found = list(_referrals_of(customer).values_list("pk", "reward"))
    return {
        "marketing.referral": [pk for pk, _reward in found],
        "marketing.referralreward": [reward for _pk, reward in found if reward],
    }


def _count(queryset_of):
    return lambda customer: queryset_of(customer).count()


def connect() -> None:
    register(
        Section(
            key="marketing.members",
            title=gettext_lazy("Campaign memberships"),
            order=30,
            count=_count(_members_of),
            export=_members,
            retained=_kept_members,
            reasons={
                "members": gettext_lazy(
                    "Campaign memberships and sign-ups, which hold no personal "
                    "information: the campaigns' figures."
                )
            },
            covers=("marketing.CampaignMember.customer",),
        )
    )
    register(
        Section(
            key="marketing.invitations",
            title=gettext_lazy("Campaign invitations"),
            order=31,
            count=_count(_invitations_of),
            export=_invitations,
            anonymise=_anonymise_invitations,
        )
    )
    register(
        Section(
            key="marketing.responses",
            title=gettext_lazy("Sign-ups and check-ins"),
            order=32,
            count=_count(_responses_of),
            export=_responses,
            covers=("marketing.Response.customer",),
        )
    )
    register(
        Section(
            key="marketing.referrals",
            title=gettext_lazy("Referrals"),
            order=33,
            count=_count(_referrals_of),
            export=_referrals,
            anonymise=_anonymise_referrals,
            retained=_kept_referrals,
            reasons={
                "referrals": gettext_lazy(
                    "Who referred whom and the reward paid for it: accounting "
                    "records; the notes are cleared."
                )
            },
            related=_related,
            covers=("marketing.Referral.referrer", "marketing.Referral.friend"),
        )
    )
    register(
        Section(
            key="marketing.club",
            title=gettext_lazy("Member club points"),
            order=35,
            count=_count(lambda c: PointEntry.objects.filter(member=c)),
            export=_points,
            retained=_kept_points,
            reasons={
                "points": gettext_lazy(
                    "The points ledger and balance: a record of the benefits the "
                    "member earned, never edited; it holds no personal information "
                    "beyond the link to the member."
                )
            },
            covers=("marketing.PointEntry.member", "marketing.ClubMember.customer"),
        )
    )
    register(
        Section(
            key="marketing.recommendations",
            title=gettext_lazy("Friends recommended in the owner portal"),
            order=36,
            count=_count(lambda c: Recommendation.objects.filter(owner=c)),
            export=_recommendations,
            anonymise=_anonymise_recommendations,
            covers=("marketing.Recommendation.owner",),
        )
    )
    register(
        Section(
            key="marketing.partner_registrations",
            title=gettext_lazy("Channel partner registrations"),
            order=34,
            count=_count(lambda c: PartnerRegistration.objects.filter(customer=c)),
            export=_partner_registrations,
            anonymise=_anonymise_partner_registrations,
            retained=_kept_partner_registrations,
            reasons={
                "partners": gettext_lazy(
                    "Which channel partner registered the customer: the basis of "
                    "their commission, an accounting record."
                )
            },
            covers=("marketing.PartnerRegistration.customer",),
        )
    )
