"""Chainable customer filters; every user-facing query starts from visible_to()."""

from __future__ import annotations

import operator
import re
from functools import reduce
from typing import TYPE_CHECKING

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When
from django.db.models.functions import Right

if TYPE_CHECKING:
    from crm_site.models import User

PHONE_LIKE = re.compile(r"[\d\s+\-()]*\d[\d\s+\-()]*")


class NameChars(models.Func):
    """string_to_array(name, NULL): the characters of a name, for a GIN index.

    Chinese names are two or three characters, too short for trigrams; an index on
    their characters finds '小明' inside '王小明' without reading the table.
    """

    function = "string_to_array"
    template = "%(function)s(%(expressions)s, NULL)"
    output_field = ArrayField(models.TextField())


class CustomerQuerySet(QuerySet):
    def live(self) -> QuerySet:
        """Customers not absorbed by a merge."""
        return self.filter(merged_into__isnull=True)

    def _scope(self, user: User, *, for_change: bool) -> QuerySet:
        perm = "customers.change_customer" if for_change else "customers.view_customer"
        if not user.is_authenticated or not user.has_perm(perm):
            return self.none()
        live = self.live()
        if user.has_perm("customers.scope_all"):
            return live
        from customers.models import Customer

        clauses: list[Q] = []
        from customers.models import CustomerAccess

        if user.has_perm("customers.scope_team") and user.team_id:
            clauses.append(Q(assigned_consultant__team_id=user.team_id))
            clauses.append(
                Q(
                    pk__in=CustomerAccess.objects.filter(
                        user__team_id=user.team_id
                    ).values("customer_id")
                )
            )
            if not for_change:
                clauses.append(Q(assigned_consultant__isnull=True))
        if user.has_perm("customers.scope_own"):
            clauses.append(Q(assigned_consultant=user))
            # Registered at another project than the one the primary owner has.
            clauses.append(
                Q(pk__in=CustomerAccess.objects.filter(user=user).values("customer_id"))
            )
            if not for_change:
                # The public pool: unowned customers anyone in sales may see and claim.
                clauses.append(Q(assigned_consultant__isnull=True))
        if user.has_perm("customers.scope_service"):
            clauses.append(Q(stage__in=[Customer.Stage.BUYER, Customer.Stage.OWNER]))
        if not clauses:
            return self.none()
        return live.filter(reduce(operator.or_, clauses))

    def visible_to(self, user: User) -> QuerySet:
        return self._scope(user, for_change=False)

    def editable_by(self, user: User) -> QuerySet:
        return self._scope(user, for_change=True)

    def search(self, text: str) -> QuerySet:
        """One box: a full phone number in any format, the last four digits or a run
        of digits, a name or company substring, full pinyin or initials.

        Results are ranked: exact name first, then names starting with the text.
        """
        from customers.models import ContactPoint
        from customers.phones import try_normalize_phone
        from customers.search import looks_like_pinyin

        text = " ".join(text.split())
        if not text:
            return self
        if PHONE_LIKE.fullmatch(text):
            digits = "".join(ch for ch in text if ch.isdigit())
            full = try_normalize_phone(text) if len(digits) >= 7 else None
            points = ContactPoint.objects.filter(kind__in=ContactPoint.PHONE_KINDS)
            if full:
                return self.filter(
                    Q(mobile=full)
                    | Q(pk__in=points.filter(value=full).values("customer_id"))
                )
            if len(digits) == 4:
                tails = points.annotate(tail=Right("value", 4)).filter(tail=digits)
                return self.annotate(mobile_tail=Right("mobile", 4)).filter(
                    Q(mobile_tail=digits) | Q(pk__in=tails.values("customer_id"))
                )
            if len(digits) >= 3:
                return self.filter(mobile__contains=digits)
        name_match = Q(name__icontains=text)
        if not text.isascii():
            # Narrow through the character index first; LIKE then checks the order.
            chars = list(dict.fromkeys(text.replace(" ", "")))
            name_match = Q(name_chars__contains=chars, name__contains=text)
            qs = self.annotate(name_chars=NameChars("name"))
        else:
            qs = self
        condition = name_match | Q(company__icontains=text)
        if looks_like_pinyin(text):
            key = text.replace(" ", "").lower()
            condition |= Q(name_initials__startswith=key) | Q(name_pinyin__contains=key)
        return qs.filter(condition).annotate(
            search_rank=Case(
                When(name=text, then=Value(0)),
                When(name__startswith=text, then=Value(1)),
                default=Value(2),
                output_field=IntegerField(),
            )
        )

    def ranked(self) -> QuerySet:
        """Order search results by rank (if searched), then newest first."""
        if "search_rank" in self.query.annotations:
            return self.order_by(F("search_rank").asc(), "-created_at", "-id")
        return self.order_by("-created_at", "-id")
