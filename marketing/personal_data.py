"""What marketing holds about one customer, for personal-information requests:
campaign memberships, invitations and sign-ups, referrals and partner registrations.
Registered in MarketingConfig.ready().

Memberships and responses hold no personal information beyond the link and stay for
the campaigns' figures; invitations not yet sent are withdrawn. Referral rewards and
partner commissions are accounting records.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm_site.personal_data import Erasure, Section, register, rows
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


def _members(customer: Any) -> list[dict]:
    return rows(
        CampaignMember.objects.filter(customer=customer).order_by("added_at", "pk"),
        [
            ("campaign__name", _("campaign")),
            ("campaign__kind", _("type")),
            ("added_at", _("added")),
        ],
    )


def _kept_members(customer: Any) -> dict[str, int]:
    return {
        "members": CampaignMember.objects.filter(customer=customer).count()
        + Response.objects.filter(customer=customer).count()
    }


def _invitations(customer: Any) -> list[dict]:
    return rows(
        Invitation.objects.filter(member__customer=customer).order_by(
            "created_at", "pk"
        ),
        [
            ("campaign__name", _("campaign")),
            "channel",
            "status",
            ("sent_at", _("sent")),
        ],
    )


def _anonymise_invitations(customer: Any, *, erasure: Erasure) -> int:
    return Invitation.objects.filter(
        member__customer=customer, status=Invitation.Status.PENDING
    ).update(status=Invitation.Status.WITHDRAWN)


def _responses(customer: Any) -> list[dict]:
    return rows(
        Response.objects.filter(customer=customer).order_by("at", "pk"),
        [
            ("campaign__name", _("campaign")),
            "kind",
            "at",
            ("recorded_by", _("recorded by")),
            "lead_consultant",
        ],
    )


def _referrals_of(customer: Any) -> QuerySet:
    return Referral.objects.filter(Q(referrer=customer) | Q(friend=customer))


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


def _kept_partner_registrations(customer: Any) -> dict[str, int]:
    return {"partners": PartnerRegistration.objects.filter(customer=customer).count()}


def _points(customer: Any) -> list[dict]:
    return rows(
        PointEntry.objects.filter(member=customer).order_by("occurred_at", "pk"),
        ["occurred_at", "kind", "source", "points", "reason"],
    )


def _kept_points(customer: Any) -> dict[str, int]:
    return {
        "points": PointEntry.objects.filter(member=customer).count()
        + ClubMember.objects.filter(customer=customer).count()
    }


def _recommendations(customer: Any) -> list[dict]:
    return rows(
        Recommendation.objects.filter(owner=customer).order_by("created_at", "pk"),
        ["created_at", "name_given", "mobile_given", "outcome"],
    )


def _anonymise_recommendations(customer: Any, *, erasure: Erasure) -> int:
    # The friend's name and number as the owner typed them: the friend's data,
    # held only because of this owner.
    return (
        Recommendation.objects.filter(owner=customer)
        .exclude(name_given="", mobile_given="")
        .update(name_given="", mobile_given="")
    )


def _related(customer: Any) -> dict[str, list[int]]:
    return {
        "marketing.referral": list(_referrals_of(customer).values_list("pk", flat=True))
    }


def _count(queryset_of):
    return lambda customer: queryset_of(customer).count()


def connect() -> None:
    register(
        Section(
            key="marketing.members",
            title=gettext_lazy("Campaign memberships"),
            order=30,
            count=_count(lambda c: CampaignMember.objects.filter(customer=c)),
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
            count=_count(lambda c: Invitation.objects.filter(member__customer=c)),
            export=_invitations,
            anonymise=_anonymise_invitations,
        )
    )
    register(
        Section(
            key="marketing.responses",
            title=gettext_lazy("Sign-ups and check-ins"),
            order=32,
            count=_count(lambda c: Response.objects.filter(customer=c)),
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
