"""Reads behind the sales desk's pages."""

from __future__ import annotations

from django.db.models import Count, Q

from crm_site.models import User
from crm_site.roles import Role
from customers.models import Customer


def my_customers_by_stage(*, user: User) -> dict[str, int]:
    rows = (
        Customer.objects.filter(assigned_consultant=user)
        .order_by()
        .values("stage")
        .annotate(n=Count("id"))
    )
    return {row["stage"]: row["n"] for row in rows}


def public_pool_size() -> int:
    return Customer.objects.filter(assigned_consultant__isnull=True).count()


def team_workload(*, user: User) -> list[User]:
    """Each consultant of the manager's team with their customer counts per stage."""
    if not user.team_id:
        return []
    return list(
        User.objects.filter(
            team_id=user.team_id, is_active=True, groups__name=Role.CONSULTANT.value
        )
        .annotate(
            total=Count("assigned_customers"),
            prospects=Count(
                "assigned_customers",
                filter=Q(assigned_customers__stage=Customer.Stage.PROSPECT),
            ),
            buyers=Count(
                "assigned_customers",
                filter=Q(assigned_customers__stage=Customer.Stage.BUYER),
            ),
            owners=Count(
                "assigned_customers",
                filter=Q(assigned_customers__stage=Customer.Stage.OWNER),
            ),
        )
        .order_by("last_name", "first_name", "username")
    )
