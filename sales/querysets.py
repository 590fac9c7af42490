"""Chainable deal filters; user-facing queries start from visible_to()."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Exists, OuterRef, Q, QuerySet

from crm_site.audit import AuditedQuerySet

if TYPE_CHECKING:
    from crm_site.models import User


def team_deals(
    user: User, *, project: str = "project_id", team: str = "consultant__team_id"
) -> Q:
    """A sales manager's deals: their team's consultants' at the projects the team
    sells (a project without teams is everyone's), and the deals at a project their
    team sells whose consultant's team does not sell it (moved to another team, or
    the project's teams changed): those are the project's managers' to decide, never
    the managers' of a team that cannot open the project.

    The one rule for every list and figure of a manager's deals: `project` and `team`
    name where the deal's project and its consultant's team are read, on a deal
    (the defaults), through a relation to it (``"opportunity__project_id"``) or on a
    fact row that stores them (``"project_id"``, ``"team_id"``)."""
    from sales.models import Project
    from sales.services.sessions import projects_visible_to

    sold_by = Project.teams.through.objects.filter(
        project_id=OuterRef(project), team_id=OuterRef(team)
    )
    return Q(
        **{team: user.team_id, f"{project}__in": projects_visible_to(user).values("pk")}
    ) | (
        Q(**{f"{project}__in": Project.objects.filter(teams__id=user.team_id)})
        & ~Exists(sold_by)
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
