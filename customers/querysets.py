"""Chainable customer filters; every user-facing query starts from visible_to()."""

from __future__ import annotations

import operator
import re
from functools import reduce
from typing import TYPE_CHECKING

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When
from django.db.models.functions import Right, StrIndex

from crm_site.audit import AuditedQuerySet

if TYPE_CHECKING:
    from crm_site.models import User

PHONE_LIKE = re.compile(r"[\d\s+\-()]*\d[\d\s+\-()]*")


@models.CharField.register_lookup
class ILike(models.Lookup):
    """col ILIKE '%text%': PostgreSQL's trigram indexes serve ILIKE on the column as
    stored, where Django's icontains (UPPER(col) LIKE UPPER(...)) cannot use them."""

    lookup_name = "ilike"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} ILIKE {rhs}", [*lhs_params, *rhs_params]

    def get_db_prep_lookup(self, value, connection):
        escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return ("%s", [f"%{escaped}%"])


class NameChars(models.Func):
    """string_to_array(name, NULL): the characters of a name, for a GIN index.

    Chinese names are two or three characters, too short for trigrams; an index on
    their characters finds '小明' inside '王小明' without reading the table.
    """

    function = "string_to_array"
    template = "%(function)s(%(expressions)s, NULL)"
    output_field = ArrayField(models.TextField())


class CustomerQuerySet(AuditedQuerySet):
    def live(self) -> QuerySet:
        """Customers not absorbed by a merge."""
        return self.filter(merged_into__isnull=True)

    def identifiable(self) -> QuerySet:
        """Customers whose personal information has not been anonymised: the only ones
        searched, listed, targeted or matched."""
        return self.filter(anonymised_at__isnull=True)

    def _scope(self, user: User, *, for_change: bool) -> QuerySet:
        perm = "customers.change_customer" if for_change else "customers.view_customer"
        if not user.is_authenticated or not user.has_perm(perm):
            return self.none()
        live = self.live()
        if for_change:
            # An anonymised customer is never edited again (PIPL request).
            live = live.identifiable()
        if user.has_perm("customers.scope_all"):
            return live
        from customers.models import Customer

        clauses: list[Q] = []
        from customers.models import CustomerAccess

        if user.has_perm("customers.scope_team") and user.team_id:
            # A short list of ids keeps the owner index usable (no join on users).
            members = user.team_member_ids()
            clauses.append(Q(assigned_consultant_id__in=members))
            clauses.append(
                Q(
                    pk__in=CustomerAccess.objects.filter(user_id__in=members).values(
                        "customer_id"
                    )
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
        if user.has_perm("customers.scope_consented"):
            clauses.append(
                Q(consent_sms=True) | Q(consent_email=True) | Q(consent_phone=True)
            )
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

        Each way of matching runs as its own indexed lookup (see search_ids); the
        user's scope then applies to that short list of ids. One OR across tables and
        scopes would make PostgreSQL read the whole table. Results are ranked: exact
        name first, then names starting with the text.
        """
        text = " ".join(text.split())
        if not text:
            return self
        return self.filter(pk__in=search_ids(text)).annotate(
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


# The newest matches of each lookup that a search considers; a query that matches more
# (a single common character) shows the newest of them.
SEARCH_CAP = 1000


def _ids(qs: QuerySet) -> list[int]:
    # Ordered by id + 0, not id: with "ORDER BY id DESC LIMIT n" PostgreSQL may walk the
    # primary key backwards hoping to meet n matches soon, and reads the whole table
    # when fewer match. The expression keeps it on the lookup's own index.
    newest = (F("pk") + 0).desc()
    return list(qs.order_by(newest).values_list("pk", flat=True)[:SEARCH_CAP])


def _chars_match(qs: QuerySet, field: str, text: str) -> QuerySet:
    """Rows whose ``field`` contains ``text`` (Chinese): the character index narrows,
    strpos() then checks the characters' order. strpos rather than LIKE, because a LIKE
    of two characters tempts the planner onto the trigram index, which cannot narrow
    fewer than three characters and then reads every row."""
    chars = list(dict.fromkeys(text.replace(" ", "")))
    return qs.annotate(
        **{
            f"{field}_chars": NameChars(field),
            f"{field}_at": StrIndex(field, Value(text)),
        }
    ).filter(**{f"{field}_chars__contains": chars, f"{field}_at__gt": 0})


def search_ids(text: str) -> list[int]:
    """Ids of live customers matching the search text, each lookup on its own index."""
    from customers.models import ContactPoint, Customer
    from customers.phones import try_normalize_phone
    from customers.search import looks_like_pinyin

    live = Customer.objects.filter(merged_into__isnull=True, anonymised_at__isnull=True)
    points = ContactPoint.objects.filter(kind__in=ContactPoint.PHONE_KINDS)
    if PHONE_LIKE.fullmatch(text):
        digits = "".join(ch for ch in text if ch.isdigit())
        full = try_normalize_phone(text) if len(digits) >= 7 else None
        if full:
            return _ids(live.filter(mobile=full)) + list(
                points.filter(value=full).values_list("customer_id", flat=True)[
                    :SEARCH_CAP
                ]
            )
        if len(digits) == 4:
            tails = points.annotate(tail=Right("value", 4)).filter(tail=digits)
            return _ids(
                live.annotate(mobile_tail=Right("mobile", 4)).filter(mobile_tail=digits)
            ) + list(tails.values_list("customer_id", flat=True)[:SEARCH_CAP])
        if len(digits) >= 3:
            return _ids(live.filter(mobile__contains=digits))
    ids: list[int] = []
    if not text.isascii():
        ids += _ids(_chars_match(live, "name", text))
    elif len(text) >= 3:
        ids += _ids(live.filter(name__ilike=text))
    if not text.isascii():
        ids += _ids(_chars_match(live, "company", text))
    elif len(text) >= 3:
        # Trigrams need three characters; shorter text would read the whole index.
        ids += _ids(live.filter(company__ilike=text))
    if looks_like_pinyin(text):
        key = text.replace(" ", "").lower()
        ids += _ids(live.filter(name_initials__startswith=key))
        if len(key) >= 3:
            ids += _ids(live.filter(name_pinyin__contains=key))
    return list(dict.fromkeys(ids))
