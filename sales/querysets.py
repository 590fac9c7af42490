"""Chainable deal filters; user-facing queries start from visible_to()."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Exists, OuterRef, Q, QuerySet

from crm_site.audit import AuditedQuerySet

if TYPE_CHECKING:
    from crm_site.models import User


def team_deals(user: User) -> Q:
    """A sales manager's deals: their team's consultants' at the projects the team
    sells (a project without teams is everyone's), and the deals at a project their
    team sells whose consultant's team does not sell it (moved to another team, or
    the project's teams changed): those are the project's managers' to decide, never
    the managers' of a team that cannot open the project."""
    from sales.models import Project
    from sales.services.sessions import projects_visible_to

    sold_by = Project.teams.through.objects.filter(
        project_id=OuterRef("project_id"), team_id=OuterRef("consultant__team_id")
    )
    return Q(
        consultant__team_id=user.team_id, project__in=projects_visible_to(user)
    ) | (
        Q(project__in=Project.objects.filter(teams__id=user.team_id)) & ~Exists(sold_by)
    )


class OpportunityQuerySet(AuditedQuerySet):
    def visible_to(self, user: User) -> QuerySet:
        """Consultants see their own deals, sales managers their team's (team_deals),
        managers all."""
        if not user.is_authenticated or not user.has_perm("sales.view_sales_desk"):
            return self.none()
        if user.has_perm("customers.scope_all"):
            return self
        if user.has_perm("sales.view_sales_management") and user.team_id:
            return self.filter(team_deals(user))
        return self.filter(consultant=user)

    def open(self) -> QuerySet:
        from sales.models import Opportunity

        return self.filter(stage__in=Opportunity.OPEN_STAGES)
