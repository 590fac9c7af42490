"""Chainable deal filters; user-facing queries start from visible_to()."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet

if TYPE_CHECKING:
    from crm_site.models import User


class OpportunityQuerySet(QuerySet):
    def visible_to(self, user: User) -> QuerySet:
        """Consultants see their own deals, sales managers their team's, managers all."""
        if not user.is_authenticated or not user.has_perm("sales.view_sales_desk"):
            return self.none()
        if user.has_perm("customers.scope_all"):
            return self
        if user.has_perm("sales.view_sales_management") and user.team_id:
            return self.filter(consultant__team_id=user.team_id)
        return self.filter(consultant=user)

    def open(self) -> QuerySet:
        from sales.models import Opportunity

        return self.filter(stage__in=Opportunity.OPEN_STAGES)
