"""Chainable customer filters; every user-facing query starts from visible_to()."""

from __future__ import annotations

import functools
import operator
import re
from functools import reduce
from typing import TYPE_CHECKING, NamedTuple

from django.contrib.postgres.fields import ArrayField
from django.db import connections, models, router
from django.db.models import (
    BooleanField,
    Case,
    ExpressionWrapper,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Right, StrIndex
from django.db.models.lookups import Exact

from crm_site.audit import AuditedQuerySet
from crm_site.compiled import TEXT_STAND_IN, filled, parameter_slots
from crm_site.derived import read_from
from crm_site.lookups import IdArray
from customers.phones import MAINLAND_CODE, number_text

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


@models.CharField.register_lookup
class Like(ILike):
    """col LIKE '%text%', case-sensitive: digits have no case, and a plain LIKE on the
    expression as indexed lets the trigram index of NationalDigits serve it."""

    lookup_name = "like"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} LIKE {rhs}", [*lhs_params, *rhs_params]


class NationalDigits(models.Func):
    """A stored E.164 number without the mainland's +86 (other numbers as stored).

    A run of digits is looked for here, not in the stored form, so '861' does not find
    every +86 1.. number. Its trigram index (three digits make a trigram) serves any
    run of three or more digits, from anywhere in the number.
    """

    template = "regexp_replace(%(expressions)s, '^[+]86', '')"
    output_field = models.CharField()


class NameChars(models.Func):
    """string_to_array(name, NULL): the characters of a name, for a GIN index.

    Chinese names are two or three characters, too short for trigrams; an index on
    their characters finds '小明' inside '王小明' without reading the table.
    """

    function = "string_to_array"
    template = "%(function)s(%(expressions)s, NULL)"
    output_field = ArrayField(models.TextField())


class NameBigrams(models.Func):
    """anju_bigrams(name): every two adjacent characters of a name, for a GIN index
    (the SQL function is created by migration 0025).

    A search for 周冬 on the characters' index intersects the rows holding 周 (one name
    in fifty) with those holding 冬: about 15 ms on a million customers. On this index
    it is the one key 周冬, whose rows are about the matches themselves (0.4 ms).
    """

    function = "anju_bigrams"
    output_field = ArrayField(models.TextField())


def bigrams(text: str) -> list[str]:
    """The text's distinct pairs of adjacent characters, as anju_bigrams() makes them."""
    return list(dict.fromkeys(text[i : i + 2] for i in range(len(text) - 1)))


class ScopeKey(NamedTuple):
    """Everything a user's customer scope depends on: two users with the same key
    see the same customers, and _scope_filter builds the scope from it alone."""

    for_change: bool
    one: bool
    user_id: int
    team_id: int | None
    all: bool
    team: bool
    own: bool
    consented: bool
    service: bool
    # The team's ids where the scope lists them (the list form, one=False).
    members: tuple[int, ...]

    @classmethod
    def of(cls, user: User, *, for_change: bool, one: bool) -> ScopeKey:
        team = user.has_perm("customers.scope_team")
        return cls(
            for_change=for_change,
            one=one,
            user_id=user.pk,
            team_id=user.team_id,
            all=user.has_perm("customers.scope_all"),
            team=team,
            own=user.has_perm("customers.scope_own"),
            consented=user.has_perm("customers.scope_consented"),
            service=user.has_perm("customers.scope_service"),
            members=tuple(user.team_member_ids())
            if team and user.team_id and not one
            else (),
        )


def scope_key(user: User, *, for_change: bool, one: bool = False) -> ScopeKey | None:
    """The key of the customers ``user`` may see (``for_change``: change); None when
    they may not see (change) customers at all."""
    perm = "customers.change_customer" if for_change else "customers.view_customer"
    if not user.is_authenticated or not user.has_perm(perm):
        return None
    return ScopeKey.of(user, for_change=for_change, one=one)


@functools.lru_cache(maxsize=1024)
def _scope_of(model, key: ScopeKey) -> QuerySet:
    """The scope's queryset, built once per process and key; callers take a clone
    (.all()) and never evaluate it. Building it (Q objects, two subqueries, their
    resolution) cost ~0.5 ms a call, twice on the customer page."""
    return CustomerQuerySet(model=model)._scope_filter(key)


class CustomerQuerySet(AuditedQuerySet):
    def live(self) -> QuerySet:
        """Customers not absorbed by a merge."""
        return self.filter(merged_into__isnull=True)

    def identifiable(self) -> QuerySet:
        """Customers whose personal information has not been anonymised: the only ones
        searched, listed, targeted or matched."""
        return self.filter(anonymised_at__isnull=True)

    def in_scope(self, key: ScopeKey | None) -> QuerySet:
        """The customers of the scope ``key`` (scope_key); none for None."""
        if key is None:
            return self.none()
        if getattr(self, "_fresh", False):
            # Straight from the manager: the scope is the same queryset for every
            # request with the same key, built once per process (_scope_of).
            return _scope_of(self.model, key).all()
        return self._scope_filter(key)

    def _scope_filter(self, key: ScopeKey) -> QuerySet:
        """The customers of ``key``'s scope, built from the key alone."""
        live = self.live()
        if key.for_change:
            # An anonymised customer is never edited again (PIPL request).
            live = live.identifiable()
        if key.all:
            return live
        from customers.models import Customer, CustomerAccess

        clauses: list[Q] = []
        if key.team and key.team_id:
            if key.one:
                # One customer (its page): the team as a subquery. PostgreSQL plans
                # it in a fraction of the time it takes to weigh 200 ids against its
                # statistics (0.6 ms against 1.4-2.3 ms a lookup), and it is the
                # same users.
                from django.contrib.auth import get_user_model

                team = get_user_model().objects.filter(team_id=key.team_id)
                clauses.append(Q(assigned_consultant_id__in=team.values("pk")))
                access = CustomerAccess.objects.filter(user_id__in=team.values("pk"))
            else:
                # A list of ids keeps the owner index usable (no join on users);
                # sent as one array (crm_site.lookups), however large the team.
                members = IdArray(key.members)
                clauses.append(Q(assigned_consultant_id__any_of=members))
                access = CustomerAccess.objects.filter(user_id__any_of=members)
            clauses.append(Q(pk__in=access.values("customer_id")))
            if not key.for_change:
                clauses.append(Q(assigned_consultant__isnull=True))
        if key.own:
            clauses.append(Q(assigned_consultant_id=key.user_id))
            # Registered at another project than the one the primary owner has.
            own_access = CustomerAccess.objects.filter(user_id=key.user_id)
            clauses.append(Q(pk__in=own_access.values("customer_id")))
            if not key.for_change:
                # The public pool: unowned customers anyone in sales may see and claim.
                clauses.append(Q(assigned_consultant__isnull=True))
        if key.consented:
            clauses.append(
                Q(consent_sms=True) | Q(consent_email=True) | Q(consent_phone=True)
            )
        if key.service:
            clauses.append(Q(stage__in=[Customer.Stage.BUYER, Customer.Stage.OWNER]))
        if not clauses:
            return self.none()
        return live.filter(reduce(operator.or_, clauses))

    def visible_to(self, user: User, *, one: bool = False) -> QuerySet:
        """The customers ``user`` may see. ``one``: the caller looks up a single
        customer, or the few ids a search found, by primary key, so the scope is
        written for that plan."""
        return self.in_scope(scope_key(user, for_change=False, one=one))

    def editable_by(self, user: User, *, one: bool = False) -> QuerySet:
        return self.in_scope(scope_key(user, for_change=True, one=one))

    def search(self, text: str, *, user: User | None) -> QuerySet:
        """One box: a full phone number in any format, any run of three or more of its
        digits, a name or company substring, full pinyin or initials.

        Each way of matching runs as its own indexed lookup (see search_ids); the
        user's scope then applies to that short list of ids. One OR across tables and
        scopes would make PostgreSQL read the whole table. Results are ranked: exact
        name first, then names starting with the text. ``user`` is who searches (None:
        the system): a number they see masked is not found by its hidden digits.
        """
        text = search_text(text)
        if not text:
            return self
        matches = matches_of(text)
        if matches is not None:
            return self.reading_matches(matches, text)
        return self.matching(search_ids(text, user=user), text)

    def matching(self, ids: list[int], text: str) -> QuerySet:
        """The customers of ``ids`` (what a search for ``text`` found), ranked by the
        text (_rank)."""
        # Up to a few thousand ids: one array parameter (crm_site.lookups).
        return self.filter(pk__any_of=IdArray(ids)).annotate(search_rank=_rank(text))

    def reading_matches(self, matches: Matches, text: str) -> QuerySet:
        """The customers a search for ``text`` finds (its ``matches``, matches_of),
        ranked (_rank), read from the rows its lookups find (_arms): the scope and
        the rank apply to the rows the lookups have already read, instead of a second
        read of each by its key (crm_site.derived; a name search's page cost
        PostgreSQL ~3.1 ms of CPU, now ~2.5)."""
        return read_from(self, *_arms(matches)).annotate(search_rank=_rank(text))

    def in_ranks(self, text: str) -> tuple[QuerySet, QuerySet, QuerySet]:
        """What a search for Chinese ``text`` of two characters or more finds, rank
        by rank (_rank), each newest first: the names that are the text, the names
        that start with it, and the rest (the name holds it further on, or only the
        company does: the newest SEARCH_CAP of each, as reading_matches reads them).

        Read one after another, a page the first ranks fill needs nothing of the
        others (customers.selectors._ranked_reader): the first two are read on the
        names' index in its order, where reading_matches reads every customer whose
        name holds the text's pairs (a common name: hundreds of rows, one table page
        each) to rank them. The same rows in the same order as
        ``reading_matches(...).ranked()`` while the text is in fewer than SEARCH_CAP
        names; past that, the first two ranks are no longer capped."""
        newest = _newest_first()
        return (
            self.filter(name=text).order_by(*newest),
            self.filter(name__extends=text).order_by(*newest),
            read_from(self, *_chinese_arms(text, past_start=True)).order_by(*newest),
        )

    # What a row of the customer list reads (customers.selectors.CustomerRow): 13 of
    # the customer's and its consultant's 44 columns. The other columns cost SQL
    # compilation, transfer and object building on every list page.
    ROW_FIELDS = (
        "name",
        "kind",
        "mobile",
        "stage",
        "source",
        "last_contact_at",
        "next_follow_up",
        "assigned_consultant",
    )

    def for_rows(self) -> QuerySet:
        """The customers as list rows: only the columns a row shows, and their
        consultant's name (customers.selectors.customer_rows)."""
        return self.only(*self.ROW_FIELDS).annotate(
            consultant_names=_consultant_names()
        )

    def ranked(self) -> QuerySet:
        """Order search results by rank (if searched), then newest first."""
        if "search_rank" in self.query.annotations:
            return self.order_by(F("search_rank").asc(), "-created_at", "-id")
        return self.order_by("-created_at", "-id")


# The newest matches of each lookup that a search considers; a query that matches more
# (a single common character) shows the newest of them.
SEARCH_CAP = 1000
# The shortest run of digits searched: a trigram, the unit of the index. One or two
# digits would match nearly every customer.
MIN_RUN = 3


def search_text(text: str) -> str:
    """The text a search looks for ("" when it looks for nothing): NUL never reaches
    PostgreSQL (it refuses it in text; multipart forms are not screened by
    crm_site.middleware.InputGuardMiddleware), runs of spaces are one space, and a
    number typed in full width is searched as its digits (phones.number_text)."""
    return number_text(" ".join(text.replace("\x00", "").split()))


def _ids(qs: QuerySet, *, common: bool = False) -> list[int]:
    """The newest SEARCH_CAP ids of ``qs``.

    Ordered by id + 0, not id: with "ORDER BY id DESC LIMIT n" PostgreSQL may walk the
    primary key backwards hoping to meet n matches soon, and reads the whole table
    when fewer match. The expression keeps it on the lookup's own index.

    ``common``: the lookup may match a large share of the table (one character: 王 is
    in one name in eight). Reading all those rows from its index to keep the newest
    thousand took 360 ms on a million customers; walking the primary key meets them
    at once (12 ms). PostgreSQL then chooses: its statistics of the characters'
    index tell it which characters are common, and a rare one is still read from it.
    """
    return list(_newest(qs, common=common))


def _newest(qs: QuerySet, *, common: bool = False) -> QuerySet:
    """The query of _ids, not run."""
    return _newest_rows(qs, common=common).values_list("pk", flat=True)


def _newest_rows(qs: QuerySet, *, common: bool = False) -> QuerySet:
    """The newest SEARCH_CAP rows of ``qs``, every column (as _ids orders them)."""
    newest = "-pk" if common else (F("pk") + 0).desc()
    return qs.order_by(newest)[:SEARCH_CAP]


def _newest_first() -> tuple:
    """created_at, then id, newest first, written so that PostgreSQL cannot walk the
    index of creation times instead (as _ids writes id + 0): for a rank of a search it
    expects in thousands of rows (its generic estimate of the names starting with a
    text) it would walk the newest customers hoping to meet a page of them soon, and
    read the whole table for a rare text (310 ms on a million customers)."""
    created = Func(
        F("created_at"),
        template="(%(expressions)s + interval '0 seconds')",
        output_field=models.DateTimeField(),
    )
    return created.desc(), F("id").desc()


def _rank(text: str) -> Case:
    """A search's rank: exact name first, then names starting with the text. The
    text is a parameter as it is (a prefix match by strpos, not a LIKE pattern made
    from it), so the SQL can be compiled once (customers.selectors)."""
    return Case(
        When(name=text, then=Value(0)),
        When(Exact(StrIndex("name", Value(text)), 1), then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )


def _ids_of_all(lookups: list[QuerySet]) -> list[int]:
    """The ids of each lookup (_newest), in one round trip: UNION ALL keeps each
    lookup a query of its own that PostgreSQL plans on its own index."""
    if not lookups:
        return []
    first, *rest = lookups
    return list(first.union(*rest, all=True) if rest else first)


def _chars_match(qs: QuerySet, field: str, text: str) -> QuerySet:
    """Rows whose ``field`` contains ``text`` (Chinese): the index of its pairs of
    adjacent characters narrows (of its single characters for a one-character text),
    strpos() then checks the whole text. strpos rather than LIKE, because a LIKE of two
    characters tempts the planner onto the trigram index, which cannot narrow fewer
    than three characters and then reads every row."""
    if len(text) >= 2:
        narrowed = {f"{field}_pairs": NameBigrams(field)}
        narrow = {f"{field}_pairs__contains": _narrowing(text)}
    else:
        narrowed = {f"{field}_chars": NameChars(field)}
        narrow = {f"{field}_chars__contains": _narrowing(text)}
    return qs.alias(**narrowed, **{f"{field}_at": StrIndex(field, Value(text))}).filter(
        **narrow, **{f"{field}_at__gt": 0}
    )


def _narrowing(text: str) -> Value:
    """What _chars_match looks up in the index: the text's pairs of adjacent
    characters, or its one character, as one array parameter (a list would be a
    parameter per item, and its SQL would change with the text's length)."""
    return Value(
        bigrams(text) if len(text) >= 2 else [text],
        output_field=ArrayField(models.TextField()),
    )


def _consultant_names() -> Subquery:
    """A row's consultant's [username, first name, last name] (User.name_of), as a
    subquery of the row's select list rather than a join: PostgreSQL evaluates it for
    the rows the page keeps, after the sort and limit, where a join read the
    consultant of every row sorted (a common name's search: each of its newest
    thousand matches). A User built per row (select_related) cost 7.8 % of a list
    page's instructions."""
    from crm_site.models import User

    names = Func(
        F("username"),
        F("first_name"),
        F("last_name"),
        template="ARRAY[%(expressions)s]",
        output_field=ArrayField(models.CharField()),
    )
    return Subquery(
        User.objects.filter(pk=OuterRef("assigned_consultant_id"))
        .annotate(names=names)
        .values("names")
    )


class Matches(NamedTuple):
    """A search whose lookups are read as rows (CustomerQuerySet.reading_matches):
    their kind ("chars" and "pairs": Chinese text of one character, of more;
    "number": a whole phone number) and the values they take, by the names of their
    slots in SQL compiled once (stand_in_matches, crm_site.compiled)."""

    kind: str
    values: dict


def matches_of(text: str) -> Matches | None:
    """How a search for ``text`` (search_text) reads its matches as rows; None when
    it finds ids first (search_ids: runs of digits, pinyin, Latin text)."""
    if PHONE_LIKE.fullmatch(text):
        full = _whole_number(text)
        return Matches("number", {"phone": full}) if full else None
    if text.isascii():
        return None
    kind = "chars" if len(text) == 1 else "pairs"
    return Matches(kind, {"text": text, "narrow": _narrowing(text).value})


def _whole_number(text: str) -> str | None:
    """The phone number ``text`` (digits and separators) spells in full, or None."""
    from customers.phones import try_normalize_phone

    digits = sum(ch.isdigit() for ch in text)
    return try_normalize_phone(text) if digits >= 7 else None


# What the lookups' SQL is compiled with in the places of their values: private-use
# characters, so that no parameter but the text (the number) and what the index
# narrows by can equal them (crm_site.compiled.parameter_slots).
NUMBER_STAND_IN = "\ue001\ue000"


@functools.cache
def stand_in_matches(kind: str) -> Matches:
    """The Matches of ``kind`` that SQL compiled once is compiled with."""
    if kind == "number":
        return Matches(kind, {"phone": NUMBER_STAND_IN})
    matches = matches_of(TEXT_STAND_IN[0] if kind == "chars" else TEXT_STAND_IN)
    assert matches is not None and matches.kind == kind
    return matches


def _arms(matches: Matches) -> tuple[QuerySet, QuerySet]:
    """The lookups of a search, as rows (every column): no customer in both."""
    if matches.kind == "number":
        return _number_arms(matches.values["phone"])
    return _chinese_arms(matches.values["text"])


def _chinese_arms(text: str, *, past_start: bool = False) -> tuple[QuerySet, QuerySet]:
    """The lookups of a Chinese text: the newest SEARCH_CAP customers whose name
    contains it (``past_start``: only after its first character, for the names that
    neither are nor start with it), and the newest SEARCH_CAP whose company name
    contains it and whose name does not (no customer is found by both)."""
    from customers.models import Customer

    live = Customer.objects.filter(merged_into__isnull=True, anonymised_at__isnull=True)
    common = len(text) == 1
    names = _chars_match(live, "name", text)
    if past_start:
        names = names.filter(name_at__gt=1)
    companies = (
        _chars_match(live, "company", text)
        .alias(name_at=StrIndex("name", Value(text)))
        .filter(name_at=0)
    )
    return _newest_rows(names, common=common), _newest_rows(companies, common=common)


def _number_arms(full: str) -> tuple[QuerySet, QuerySet]:
    """The lookups of a whole number: the customer whose mobile it is, and those who
    have it as a further number (not as their mobile): a handful of rows on two
    indexes."""
    from customers.models import ContactPoint, Customer

    live = Customer.objects.filter(merged_into__isnull=True, anonymised_at__isnull=True)
    # The kinds as plain text: a statement of plain parameters can be prepared
    # (crm_site.prepared), as a number's plan is the same whatever the number.
    kinds = [str(kind) for kind in ContactPoint.PHONE_KINDS]
    points = ContactPoint.objects.filter(kind__in=kinds, value=full)
    others = Customer.objects.filter(pk__in=points.values("customer_id"))
    return (
        live.filter(mobile=full).order_by()[:SEARCH_CAP],
        others.exclude(mobile=full).order_by()[:SEARCH_CAP],
    )


def _lookups(matches: Matches) -> QuerySet:
    """The ids of _arms(matches), in one statement."""
    first, second = (arm.values_list("pk", flat=True) for arm in _arms(matches))
    return first.union(second, all=True)


@functools.cache
def _lookups_sql(kind: str) -> tuple[str, tuple]:
    """_lookups' SQL for a kind of Matches, compiled once per process (building and
    compiling them cost ~1.2 ms of each name search), with slots for its values."""
    stand_in = stand_in_matches(kind)
    sql, params = _lookups(stand_in).query.sql_with_params()
    return sql, parameter_slots(params, stand_in.values)


def _compiled_ids(compiled: tuple[str, tuple], values: dict) -> list[int]:
    """The ids a lookup's SQL compiled once (its SQL and slots) finds with
    ``values`` in its slots."""
    from customers.models import Customer

    sql, slots = compiled
    with connections[router.db_for_read(Customer)].cursor() as cursor:
        cursor.execute(sql, filled(slots, values))
        return [row[0] for row in cursor.fetchall()]


def _digit_run(qs: QuerySet, *, field: str, digits: str, masked: bool) -> QuerySet:
    """Rows whose number ``field`` holds the run of ``digits`` anywhere in its national
    digits, found on the NationalDigits trigram index.

    For a user who sees numbers masked (138****8000), ``shown`` tells whether the run
    lies within what the mask shows, the first three or the last four digits. Such a
    user finds a masked number only that way (or by the full number): otherwise
    searching runs such as 1380, 1381... would spell out the hidden middle digits.
    """
    qs = qs.annotate(national=NationalDigits(field)).filter(national__like=digits)
    if not masked:
        return qs
    # On the stored column, not the national digits: a common run matches tens of
    # thousands of rows, and regexp_replace() on each of them again is the slow part.
    shown = Q(run_at_tail__gt=0)
    if len(digits) == 3:
        shown |= Q(**{f"{field}__startswith": f"+{MAINLAND_CODE}{digits}"})
    return qs.annotate(
        run_at_tail=StrIndex(Right(field, 4), Value(digits)),
        shown=ExpressionWrapper(shown, output_field=BooleanField()),
    )


def _digit_run_ids(digits: str, *, user: User | None) -> list[int]:
    """Customers with the run of digits in their mobile or a further phone number."""
    from customers.models import ContactPoint, Customer

    masked = user is not None and not user.has_perm("customers.view_contact")
    live = Customer.objects.filter(merged_into__isnull=True, anonymised_at__isnull=True)
    customers = _digit_run(live, field="mobile", digits=digits, masked=masked)
    if masked:
        # The user's own customers' numbers are shown in full (contact_visible_to).
        customers = customers.filter(Q(shown=True) | Q(assigned_consultant=user))
    ids = _ids(customers)
    points = _digit_run(
        ContactPoint.objects.filter(kind__in=ContactPoint.PHONE_KINDS),
        field="value",
        digits=digits,
        masked=masked,
    ).order_by((F("pk") + 0).desc())  # as in _ids: keeps PostgreSQL on the index
    if not masked:
        return ids + list(points.values_list("customer_id", flat=True)[:SEARCH_CAP])
    rows = list(points.values_list("customer_id", "shown")[:SEARCH_CAP])
    # The owner is checked on the few matching customers by primary key, apart: an
    # OR with a join or a subquery makes PostgreSQL read every customer of the user.
    hidden = {customer_id for customer_id, shown in rows if not shown}
    owned = set(
        Customer.objects.filter(
            pk__any_of=hidden, assigned_consultant=user
        ).values_list("pk", flat=True)
        if hidden
        else ()
    )
    return ids + [cid for cid, shown in rows if shown or cid in owned]


def digits_too_few(text: str) -> bool:
    """Text that can only be a number but has fewer digits than a search needs."""
    text = search_text(text)
    digits = sum(ch.isdigit() for ch in text)
    return bool(text) and bool(PHONE_LIKE.fullmatch(text)) and digits < MIN_RUN


def search_ids(text: str, *, user: User | None) -> list[int]:
    """Ids of live customers matching the search text, each lookup on its own index.

    ``user`` is whoever searches: numbers they see masked are found only by what the
    mask shows (see _digit_run). None searches as the system, for internal callers.
    """
    from customers.models import Customer
    from customers.search import looks_like_pinyin

    matches = matches_of(text)
    if matches is not None:
        # A whole number or Chinese text, nearly every search: one statement,
        # compiled once; no customer is found by both of its lookups (_arms).
        return _compiled_ids(_lookups_sql(matches.kind), matches.values)
    if PHONE_LIKE.fullmatch(text):
        digits = "".join(ch for ch in text if ch.isdigit())
        if len(digits) >= MIN_RUN:
            return list(dict.fromkeys(_digit_run_ids(digits, user=user)))
        return []
    live = Customer.objects.filter(merged_into__isnull=True, anonymised_at__isnull=True)
    lookups: list[QuerySet] = []
    if len(text) >= 3:
        # Trigrams need three characters; shorter text would read the whole index.
        lookups.append(_newest(live.filter(name__ilike=text)))
        lookups.append(_newest(live.filter(company__ilike=text)))
    if looks_like_pinyin(text):
        key = text.replace(" ", "").lower()
        lookups.append(_newest(live.filter(name_initials__startswith=key)))
        if len(key) >= 3:
            lookups.append(_newest(live.filter(name_pinyin__contains=key)))
    return list(dict.fromkeys(_ids_of_all(lookups)))


class CustomerManager(models.Manager.from_queryset(CustomerQuerySet)):
    def get_queryset(self) -> CustomerQuerySet:
        queryset = super().get_queryset()
        # Nothing applied yet: a scope taken from here may come from _scope_of.
        # Any clone (filter(), all(), ...) is a new queryset without the mark.
        queryset._fresh = True
        return queryset
