"""What marketing adds to the customer page: the campaigns the customer was invited
to and how they answered, and the customer's referrals with a form to record a new one
when the customer is an owner."""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef, Q

from crm_site import fragments
from crm_site.models import User
from customers.models import Customer
from marketing.models import CampaignMember, Referral, Response
from sales.models import Project


def referral_panel(*, customer: Customer, user: User) -> dict[str, Any] | None:
    can_record = user.has_perm("marketing.add_referral")
    if not (can_record or user.has_perm("marketing.view_referral")):
        return None
    referrals = list(
        Referral.objects.filter(Q(referrer=customer) | Q(friend=customer))
        .select_related("referrer", "friend", "project", "opportunity", "reward")
        .order_by("-recorded_at")[:20]
    )
    if not referrals and not can_record:
        return None
    _name_friends(referrals, customer=customer, user=user)
    from marketing.services.referrals import is_owner

    show_form = can_record and is_owner(customer)
    return {
        "customer": customer,
        "referrals": referrals,
        "show_form": show_form,
        # The select's choices, from the cache while no project changed.
        "projects": active_project_choices() if show_form else [],
    }


def _name_friends(referrals: list[Referral], *, customer: Customer, user: User) -> None:
    """The friends this customer referred, named as the reader may know them: the
    CRM's name for a friend they may open, else the name the referrer gave (a number
    typed at the desk must not tell whose it is). One query, only when there are
    friends to name."""
    friend_ids = {r.friend_id for r in referrals if r.referrer_id == customer.pk}
    visible = (
        set(
            Customer.objects.visible_to(user, one=True)
            .filter(pk__in=friend_ids)
            .values_list("pk", flat=True)
        )
        if friend_ids
        else set()
    )
    for r in referrals:
        r.friend_shown = (
            r.friend.name if r.friend_id in visible else r.name_given or "—"
        )


def active_project_choices() -> list[dict[str, Any]]:
    return fragments.cached(
        "active-projects",
        lambda: list(
            Project.objects.filter(is_active=True).order_by("name").values("pk", "name")
        ),
        depends_on=[Project],
    )


def campaign_panel(*, customer: Customer, user: User) -> dict[str, Any] | None:
    """The customer's latest campaigns, with whether they signed up and came: one
    query. Nothing when the customer was in no campaign."""
    answered = Response.objects.filter(member_id=OuterRef("pk"))
    memberships = list(
        CampaignMember.objects.filter(customer=customer)
        .select_related("campaign")
        .annotate(
            signed_up=Exists(answered.filter(kind=Response.Kind.SIGNUP)),
            checked_in=Exists(answered.filter(kind=Response.Kind.CHECKIN)),
        )
        .order_by("-campaign__starts_on", "-pk")[:10]
    )
    if not memberships:
        return None
    return {
        "memberships": memberships,
        "may_open": user.has_perm("marketing.use_marketing"),
    }


def club_panel(*, customer: Customer, user: User) -> dict[str, Any] | None:
    """The member's club card: level, balance, the latest entries. Nothing for a
    customer not in the club (three queries when there is a card)."""
    if not user.has_perm("marketing.view_pointentry"):
        return None
    from marketing.club_selectors import club_card

    card = club_card([customer.pk])
    if card is None:
        return None
    return {"customer": customer, "card": card}
