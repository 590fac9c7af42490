"""What sales adds to the customer page: ownership per project and the customer's deals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import OuterRef
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from crm_site import fragments
from crm_site.models import User
from customers.models import Customer
from sales.models import Opportunity, OwnershipEvent, Project, Registration
from sales.selectors import reassign_targets, registrations_reassignable_by


def reassign_choices(
    *, user: User, project: Project, seller_team_ids: Sequence[int]
) -> list[tuple[int, str]]:
    """(id, <option> HTML) of the consultants ``user`` may hand a protection at
    ``project`` to: exactly sales.selectors.reassign_targets, which the reassign view
    validates with. The choice depends on the project only through the teams that
    sell it, so it is cached per set of selling teams and per team of the user (every
    team for who decides all), until a user or a group membership changes (tracked
    by crm_site); the selling teams are read fresh with the registrations, so a
    project's teams changing picks another entry. The options are escaped once here:
    a team of 200 costs 1.6 ms of format_html per select."""
    sellers = ",".join(str(pk) for pk in sorted(set(seller_team_ids))) or "any"
    chooser = "all" if user.has_perm("customers.scope_all") else user.team_id
    if chooser is None:
        return []

    def build() -> list[tuple[int, str]]:
        return [
            (
                c.pk,
                format_html('<option value="{}">{}</option>', c.pk, c.display_name),
            )
            for c in reassign_targets(user=user, project=project)
            .order_by("last_name", "first_name", "pk")
            .only("id", "username", "first_name", "last_name")
        ]

    return fragments.cached(
        f"reassign-options:{sellers}:{chooser}",
        build,
        depends_on=[User, User.groups.through],
        per_language=False,
    )


def customer_panel(*, customer: Customer, user: User) -> dict[str, Any] | None:
    if not user.has_perm("sales.view_sales_desk"):
        return None
    can_reassign = user.has_perm("sales.manage_sales")
    registrations_qs = (
        Registration.objects.filter(
            customer=customer, status=Registration.Status.PROTECTED
        )
        .select_related("project", "consultant", "rule")
        .order_by("project__name")
    )
    if can_reassign:
        # Who may receive each protection depends on the teams selling its project,
        # read in the same query.
        registrations_qs = registrations_qs.annotate(
            seller_team_ids=ArraySubquery(
                Project.teams.through.objects.filter(
                    project_id=OuterRef("project_id")
                ).values("team_id")
            )
        )
    registrations = list(registrations_qs)
    events = list(
        OwnershipEvent.objects.filter(customer=customer)
        .select_related("project", "consultant", "actor")
        .order_by("-at", "-pk")[:20]
    )
    deals = list(
        Opportunity.objects.visible_to(user)
        .filter(customer=customer)
        .select_related("project", "unit")
        .order_by("-stage_changed_at")[:10]
    )
    # Only the protections this manager may hand over (another team's is theirs).
    reassignable = (
        set(
            registrations_reassignable_by(user)
            .filter(pk__in=[r.pk for r in registrations])
            .values_list("pk", flat=True)
        )
        if can_reassign and registrations
        else set()
    )
    for registration in registrations:
        options = (
            reassign_choices(
                user=user,
                project=registration.project,
                seller_team_ids=registration.seller_team_ids,
            )
            if registration.pk in reassignable
            else []
        )
        # The reassign select, built here: a team can have hundreds of consultants.
        # Each option was escaped by format_html when the list was cached.
        registration.reassign_options = mark_safe(
            "".join(
                option for pk, option in options if pk != registration.consultant_id
            )
        )
        registration.reassignable = bool(options)
    return {
        "customer": customer,
        "registrations": registrations,
        "events": events,
        "deals": deals,
        "can_reassign": any(r.reassignable for r in registrations),
    }
