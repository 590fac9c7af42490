"""What marketing adds to the customer page: the customer's referrals and a form to
record a new one when the customer is an owner."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from crm_site.models import User
from customers.models import Customer
from marketing.models import Referral
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
    from marketing.services.referrals import is_owner

    show_form = can_record and is_owner(customer)
    return {
        "customer": customer,
        "referrals": referrals,
        "show_form": show_form,
        # A list, so the template's loop costs one query (a form field's choices
        # would count the projects first).
        "projects": list(Project.objects.filter(is_active=True).order_by("name"))
        if show_form
        else [],
    }
