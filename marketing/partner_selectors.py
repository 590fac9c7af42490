"""Reads behind the referral and partner lists: one query per page, whatever its size."""

from __future__ import annotations

from django.db.models import OuterRef, Q, QuerySet, Subquery

from customers.models import Customer
from customers.phones import mask_phone
from marketing.models import Commission, PartnerRegistration, Referral
from sales.models import Opportunity
from sales.services.sessions import mask_name


def referrals_visible_to(user) -> QuerySet:
    """The referrals ``user`` sees and settles: a sales manager those of the
    projects their team sells (sales.services.sessions.projects_visible_to), as
    for the project's other rules and money; the marketing desk, which pays every
    project's rewards, and roles that see everything, all of them."""
    from sales.services.sessions import projects_visible_to

    if user.has_perm("sales.view_sales_desk") and not user.has_perm(
        "customers.scope_all"
    ):
        return Referral.objects.filter(
            Q(project__isnull=True) | Q(project__in=projects_visible_to(user))
        )
    return Referral.objects.all()


def referral_rows(*, user, project=None, reward: str = "") -> QuerySet:
    """Referrals ``user`` sees (referrals_visible_to) newest first, with the stage
    of the friend's latest deal."""
    friend_deals = Opportunity.objects.filter(customer=OuterRef("friend_id"))
    qs = (
        referrals_visible_to(user)
        .select_related(
            "referrer", "friend", "project", "opportunity", "reward", "recorded_by"
        )
        .annotate(
            friend_stage=Subquery(
                friend_deals.order_by("-created_at").values("stage")[:1]
            )
        )
        .order_by("-recorded_at", "-id")
    )
    if project is not None:
        qs = qs.filter(project=project)
    if reward == "waiting":
        qs = qs.filter(reward__isnull=True)
    elif reward:
        qs = qs.filter(reward__status=reward)
    return qs


def partner_registration_rows(*, partner) -> QuerySet:
    """A partner's registrations newest first, with the customer's deal stage at the
    project and the commission, if any."""
    # Only deals opened since the partner registered the customer: an earlier one
    # (a lost deal before the protection lapsed) would tell the broker the number
    # was a customer already.
    deals = Opportunity.objects.filter(
        customer=OuterRef("customer_id"),
        project=OuterRef("project_id"),
        created_at__gte=OuterRef("created_at"),
    ).order_by("-created_at")
    return (
        PartnerRegistration.objects.filter(partner=partner)
        .select_related("customer", "project", "registration", "broker")
        .annotate(deal_stage=Subquery(deals.values("stage")[:1]))
        .order_by("-created_at", "-id")
    )


def commission_rows(*, partner=None, status: str = "") -> QuerySet:
    qs = Commission.objects.select_related(
        "partner",
        "opportunity__customer",
        "opportunity__project",
        "paid_by",
        "registration",
    ).order_by("-due_at", "-id")
    if partner is not None:
        qs = qs.filter(partner=partner)
    if status:
        qs = qs.filter(status=status)
    return qs


def visible_customer_ids(*, user, customer_ids) -> set[int]:
    """Which of a page's customers ``user`` may see: one query, whatever the page."""
    ids = {pk for pk in customer_ids if pk is not None}
    if not ids:
        return set()
    return set(
        Customer.objects.visible_to(user, one=True)
        .filter(pk__in=ids)
        .values_list("pk", flat=True)
    )


def partner_customer_name(*, customer, name_given: str, visible: bool) -> str:
    """The name a partner's list shows for a customer: the CRM's to a reader whose
    scope holds the customer; to anyone else (brokers included) the name the broker
    typed (older rows: the surname only), never the CRM's record for the number."""
    if visible:
        return customer.name
    return name_given or mask_name(customer.name)


def partner_customer_mobile(*, customer, mobile_given: str) -> str:
    """The masked number a partner's list shows: the one the broker typed (older
    rows: the customer's own). Never the record's primary mobile when the broker gave
    another: the number may be a known customer's second phone (or the record was
    merged, or its number changed), and the mask would tell the broker so."""
    return mask_phone(mobile_given or customer.mobile)


def stage_label(stage: str | None) -> str:
    return str(Opportunity.Stage(stage).label) if stage else ""
