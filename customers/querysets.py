"""Chainable customer filters; every user-facing query starts from visible_to()."""

from __future__ import annotations

import operator
import re
from functools import reduce
from typing import TYPE_CHECKING

from django.db.models import Q, QuerySet

if TYPE_CHECKING:
    from crm_site.models import User

PHONE_LIKE = re.compile(r"[\d\s+\-()]*\d[\d\s+\-()]*")


class CustomerQuerySet(QuerySet):
    def _scope(self, user: User, *, for_change: bool) -> QuerySet:
        perm = "customers.change_customer" if for_change else "customers.view_customer"
        if not user.is_authenticated or not user.has_perm(perm):
            return self.none()
        if user.has_perm("customers.scope_all"):
            return self
        from customers.models import Customer

        clauses: list[Q] = []
        if user.has_perm("customers.scope_team") and user.team_id:
            clauses.append(Q(assigned_consultant__team_id=user.team_id))
            if not for_change:
                clauses.append(Q(assigned_consultant__isnull=True))
        if user.has_perm("customers.scope_own"):
            clauses.append(Q(assigned_consultant=user))
            if not for_change:
                # The public pool: unowned customers anyone in sales may see and claim.
                clauses.append(Q(assigned_consultant__isnull=True))
        if user.has_perm("customers.scope_service"):
            clauses.append(Q(stage__in=[Customer.Stage.BUYER, Customer.Stage.OWNER]))
        if not clauses:
            return self.none()
        return self.filter(reduce(operator.or_, clauses))

    def visible_to(self, user: User) -> QuerySet:
        return self._scope(user, for_change=False)

    def editable_by(self, user: User) -> QuerySet:
        return self._scope(user, for_change=True)

    def search(self, text: str) -> QuerySet:
        """Name substring, full phone number or a run of its digits."""
        from customers.phones import try_normalize_phone

        text = text.strip()
        if not text:
            return self
        if PHONE_LIKE.fullmatch(text):
            digits = "".join(ch for ch in text if ch.isdigit())
            full = try_normalize_phone(text)
            if full:
                return self.filter(mobile=full)
            if len(digits) >= 3:
                return self.filter(mobile__contains=digits)
        return self.filter(name__icontains=text)
