"""Reads over customers that feed lists, the 360 page and landing pages."""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import BooleanField, Count, Exists, OuterRef, QuerySet, Value
from django.utils import translation
from django.utils.timezone import get_current_timezone, localtime
from django.utils.translation import gettext

from crm_site import events, links
from crm_site.audit import audit_entries_for
from crm_site.compiled import STAND_IN, TEXT_STAND_IN, KeyLookup, SliceRead
from crm_site.lookups import IdArray
from crm_site.models import AuditEntry, User
from crm_site.pagination import Page, Reader, ToCount, paginate
from crm_site.prepared import prepared_queries
from crm_site.reversing import reverse_ids
from customers.identity import mask_id_number
from customers.models import (
    ConsentRecord,
    ContactPoint,
    Customer,
    Interaction,
    Tag,
)
from customers.phones import format_phone, mask_phone
from customers.querysets import (
    ScopeKey,
    matches_of,
    scope_key,
    search_ids,
    search_text,
    stand_in_matches,
)


def customer_list(
    *, user: User, query: str = "", stage: str = "", source: str = ""
) -> QuerySet:
    qs = Customer.objects.visible_to(user).identifiable().search(query, user=user)
    if stage:
        qs = qs.filter(stage=stage)
    if source:
        qs = qs.filter(source=source)
    return qs.select_related("assigned_consultant").ranked()


# What the customer list's compiled read takes in the place of a search's ids
# (crm_site.compiled): an id no row has.
_IDS_STAND_IN = [STAND_IN]


def customer_list_page(*, user: User, text: str = "") -> tuple[ToCount, Reader]:
    """The customer list as the user sees it, or the customers a search for ``text``
    found, ranked: the queryset to count (built only should the total be counted)
    and a reader of its slices whose SQL is compiled once per process and scope
    (~0.4 ms a page; crm_site.compiled)."""
    text = search_text(text)
    scope = scope_key(user, for_change=False, one=bool(text))
    if scope is None:
        none = ToCount(Customer, Customer.objects.none)
        return none, lambda low, high: ([], "", [])

    # Built only should the total be counted (~0.15 ms of Python a page).
    def rows() -> QuerySet:
        return Customer.objects.in_scope(scope).identifiable().for_rows()

    if not text:
        counted = ToCount(Customer, lambda: rows().ranked())
        return counted, _reader(_list_read(scope, ""), {}, prepared=True)
    matches = matches_of(text)
    if matches is not None and matches.kind == IN_RANKS:
        counted = ToCount(
            Customer, lambda: _keys_of(rows().in_ranks(text)), indexed=True
        )
        values = {**matches.values, "text": text}
        return counted, _ranked_reader(_rank_reads(scope), values)
    if matches is not None:
        read = _list_read(scope, matches.kind)
        counted = ToCount(
            Customer, lambda: rows().reading_matches(matches, text).ranked()
        )
        values = {**matches.values, "text": text}
        # One character is planned each time: a common one is read by walking the
        # newest customers, a rare one from its index.
        return counted, _reader(read, values, prepared=matches.kind != "chars")
    ids = search_ids(text, user=user)
    read = _list_read(scope, _IDS)
    counted = ToCount(Customer, lambda: rows().matching(ids, text).ranked())
    return counted, _reader(read, {"ids": ids, "text": text}, prepared=True)


def _reader(read: SliceRead, values: dict, *, prepared: bool) -> Reader:
    """The list's reader: run as a statement prepared once per connection (~0.5 ms
    of PostgreSQL's planning) when its plan is the same whatever the values (the
    plain list, a whole number, a search narrowed to ids); a search for one
    character is planned each time (a common one is read another way than a rare
    one). A name search of two characters or more: _ranked_reader."""
    if not prepared:
        return functools.partial(read.rows, values)

    def reader(low: int, high: int) -> tuple[list, str, list]:
        with prepared_queries():
            return read.rows(values, low, high)

    return reader


# The searches whose every page is read rank by rank (CustomerQuerySet.in_ranks):
# Chinese text of two characters or more.
IN_RANKS = "pairs"


def reads_in_ranks(text: str) -> bool:
    """Whether every page of a search for ``text`` alone (search_text) is read by
    customer_list_page, rank by rank: the first page and the next must come from the
    same reading, or a row could be shown twice or never."""
    matches = matches_of(text)
    return matches is not None and matches.kind == IN_RANKS


@functools.lru_cache(maxsize=1024)
def _rank_reads(scope: ScopeKey) -> tuple[SliceRead, ...]:
    """The ranks of a search (CustomerQuerySet.in_ranks) in ``scope``, each compiled
    once per process with the stand-in text (and the pairs the rest is narrowed by)."""
    rows = Customer.objects.in_scope(scope).identifiable().for_rows()
    exact, longer, rest = rows.in_ranks(TEXT_STAND_IN)
    text = {"text": TEXT_STAND_IN}
    return (
        SliceRead(exact, text),
        SliceRead(longer, text),
        SliceRead(rest, stand_in_matches(IN_RANKS).values),
    )


def _ranked_reader(reads: tuple[SliceRead, ...], values: dict) -> Reader:
    """Rows ``low`` to ``high`` of the ranks one after another: each rank is read up
    to ``high`` rows, and the next only while the page is not full (a name common in
    the data fills it from the first: PostgreSQL reads ~26 of its rows on the names'
    index instead of every customer whose name holds the text). The first page's
    statements are prepared, on their generic plans (the same whatever the text); a
    later page's LIMIT makes statements of its own, planned each time. The SQL
    returned keys the list's cached total: the first rank's, marked as this reading's.
    """

    def reader(low: int, high: int) -> tuple[list, str, list]:
        found: list = []
        key: tuple[str, list] | None = None
        with prepared_queries(generic=True) if low == 0 else contextlib.nullcontext():
            for read in reads:
                rows, sql, params = read.rows(values, 0, high)
                key = key or (f"/* in ranks */ {sql}", params)
                found.extend(rows)
                if len(found) >= high:
                    break
        return found[low:high], *key

    return reader


def _keys_of(querysets: Iterable[QuerySet]) -> QuerySet:
    """The keys of ``querysets``' rows, in one statement (a list's total counts it)."""
    first, *rest = (qs.order_by().values("pk") for qs in querysets)
    return first.union(*rest, all=True)


# _list_read's kinds besides the plain list ("") and those of a search that reads
# its matches' rows (querysets.Matches): a search narrowed to ids first.
_IDS = "ids"


@functools.lru_cache(maxsize=1024)
def _list_read(scope: ScopeKey | None, kind: str) -> SliceRead:
    rows = Customer.objects.in_scope(scope).identifiable().for_rows()
    if not kind:
        return SliceRead(rows.ranked(), {})
    if kind == _IDS:
        rows = rows.matching(_IDS_STAND_IN, TEXT_STAND_IN).ranked()
        return SliceRead(rows, {"ids": _IDS_STAND_IN, "text": TEXT_STAND_IN})
    stand_in = stand_in_matches(kind)
    # The rank's text: a name search's own; a number's, as typed, its own stand-in.
    values = {"text": TEXT_STAND_IN, **stand_in.values}
    rows = rows.reading_matches(stand_in, values["text"]).ranked()
    return SliceRead(rows, values)


def customer_counts_by(*, user: User, field: str) -> dict[str, int]:
    """Visible customers counted per value of a choice field (stage, source)."""
    rows = (
        Customer.objects.visible_to(user)
        .order_by()
        .values(field)
        .annotate(n=Count("id"))
    )
    return {row[field]: row["n"] for row in rows}


def customer_for_page(*, user: User) -> QuerySet:
    """The customers the user may open, each with what the 360 page shows around it
    read in the same query: owner, creator and household, the tag names
    (``tag_names``) and whether the user may change it (``can_edit``)."""
    return _page_customers(*_page_scopes(user)).all()


def customer_on_page(*, user: User, pk: int) -> Customer | None:
    """The customer of customer_for_page with this key, or None outside the user's
    scope: the same query, its SQL compiled once per pair of scopes (~1.5 ms a
    page, crm_site.compiled)."""
    return _page_lookup(*_page_scopes(user)).get(pk)


def _page_scopes(user: User) -> tuple[ScopeKey | None, ScopeKey | None]:
    """The pair of scopes the 360 page's query depends on: to see, to change."""
    return (
        scope_key(user, for_change=False, one=True),
        scope_key(user, for_change=True, one=True),
    )


@functools.lru_cache(maxsize=1024)
def _page_lookup(view: ScopeKey | None, change: ScopeKey | None) -> KeyLookup:
    return KeyLookup(_page_customers(view, change))


@functools.lru_cache(maxsize=1024)
def _page_customers(view: ScopeKey | None, change: ScopeKey | None) -> QuerySet:
    """customer_for_page's queryset, built once per process and pair of scopes (its
    joins and annotations cost ~0.3 ms a page); callers take a clone."""
    if change is not None:
        can_edit = Exists(Customer.objects.in_scope(change).filter(pk=OuterRef("pk")))
    else:
        can_edit = Value(False, output_field=BooleanField())
    return (
        Customer.objects.in_scope(view)
        .select_related("assigned_consultant", "created_by", "household", "value__tier")
        .annotate(
            tag_names=ArraySubquery(
                Tag.objects.filter(customer=OuterRef("pk"))
                .order_by("name")
                .values("name")
            ),
            can_edit=can_edit,
        )
    )


def customer_timeline(*, customer: Customer | int, kind: str = "") -> QuerySet:
    qs = Interaction.objects.filter(customer=customer)
    if kind:
        qs = qs.filter(kind=kind)
    # The link's content type comes from ContentType's own cache, and the authors
    # are read for the page's entries only (timeline_rows): joined here, PostgreSQL
    # joined every entry of the customer to sort them all and keep a page (its
    # estimate of a customer's entries is the average, a handful), ~0.4 ms for 200
    # entries, instead of reading the page's from the timeline's index in order.
    return qs.order_by("-occurred_at", "-id")


# What a timeline row shows (TimelineRow), read as named tuples: an Interaction built
# for each entry cost ~6 µs of the customer page's Python (20 a page).
TIMELINE_COLUMNS = (
    "kind",
    "channel",
    "occurred_at",
    "created_by_id",
    "event",
    "params",
    "summary",
    "link_label",
    "link_type_id",
    "link_id",
    "next_follow_up",
)


def _timeline_entries(*, customer: Customer | int, kind: str) -> QuerySet:
    return customer_timeline(customer=customer, kind=kind).values_list(
        *TIMELINE_COLUMNS, named=True
    )


def customer_timeline_page(
    *, customer: Customer, kind: str = ""
) -> tuple[QuerySet, Reader]:
    """customer_timeline's entries as timeline_rows reads them (TIMELINE_COLUMNS), and
    a reader of their slices whose SQL is compiled once per process and kind (~0.3 ms
    a page; crm_site.compiled)."""
    values = {"customer": customer.pk}
    return (
        _timeline_entries(customer=customer, kind=kind),
        functools.partial(_timeline_read(kind).rows, values),
    )


@functools.lru_cache(maxsize=64)
def _timeline_read(kind: str) -> SliceRead:
    return SliceRead(
        _timeline_entries(customer=STAND_IN, kind=kind), {"customer": STAND_IN}
    )


@dataclass(frozen=True)
class TimelineRow:
    """One timeline entry with everything the template shows already worked out, so
    the page's loop only prints (labels, dates and links once per page, not per row)."""

    kind: str
    kind_label: str
    channel_label: str
    when: str
    author: str
    text: str
    link_label: str
    link_url: str | None
    next_follow_up: str


def timeline_kind_labels() -> dict[str, str]:
    """Each kind of timeline entry and its label in the reader's language: for the
    page's filter and its rows alike (translated once a page)."""
    return {value: str(label) for value, label in Interaction.Kind.choices}


def timeline_rows(
    items: Iterable, *, kinds: dict[str, str], reader: User
) -> list[TimelineRow]:
    """The entries customer_timeline_page read (named tuples of TIMELINE_COLUMNS)
    as the page shows them; ``kinds``: timeline_kind_labels(), which the page's
    filter shows too. An entry links to its object's page when the ``reader``'s
    role may open such pages."""
    items = list(items)
    authors = _author_names({item.created_by_id for item in items} - {None})
    channels = {
        value: str(label)
        for value, label in Interaction._meta.get_field("channel").choices
    }
    system = gettext("System")
    # The zone once a page: asking for it per row costs ~3 µs each (a context-local).
    zone = get_current_timezone()
    builders: dict[int, Callable[[int], str] | None] = {}
    rows = []
    for item in items:
        link_url = None
        if item.link_type_id is not None and item.link_id is not None:
            if item.link_type_id not in builders:
                builders[item.link_type_id] = links.url_builder(
                    ContentType.objects.get_for_id(item.link_type_id), user=reader
                )
            build = builders[item.link_type_id]
            link_url = build(item.link_id) if build else None
        rows.append(
            TimelineRow(
                kind=item.kind,
                kind_label=kinds.get(item.kind, item.kind),
                channel_label=channels.get(item.channel, item.channel),
                when=localtime(item.occurred_at, zone).strftime("%Y-%m-%d %H:%M"),
                author=authors.get(item.created_by_id, system),
                text=events.text_of(item.event, item.params, item.summary),
                link_label=item.link_label,
                link_url=link_url,
                next_follow_up=item.next_follow_up.strftime("%Y-%m-%d")
                if item.next_follow_up
                else "",
            )
        )
    return rows


def _author_names(ids: set[int]) -> dict[int, str]:
    """The display names of the users ``ids`` (a timeline page's authors), read in
    one statement compiled once per process."""
    if not ids:
        return {}
    users, _sql, _params = _authors_read().rows({"ids": sorted(ids)})
    return {user.pk: user.display_name for user in users}


@functools.cache
def _authors_read() -> SliceRead:
    users = User.objects.filter(pk__any_of=IdArray(_IDS_STAND_IN)).only(
        "username", "first_name", "last_name"
    )
    return SliceRead(users.order_by(), {"ids": _IDS_STAND_IN})


@dataclass(frozen=True)
class CustomerRow:
    """One row of the customer list, worked out once so the page's loop only prints
    (like TimelineRow): no method calls, choice lookups or date filters per cell."""

    pk: int
    url: str
    name: str
    kind_label: str  # set for companies only
    mobile: str
    stage: str
    stage_label: str
    source_label: str
    consultant: str  # the consultant's name, or "Public pool"
    in_pool: bool
    last_contact: str  # "—" when none, as the list shows it
    next_follow_up: str  # "—" when none


def customer_rows(customers: Iterable[Customer], *, user: User) -> list[CustomerRow]:
    """``customers`` as ``for_rows()`` reads them (their consultant's name
    annotated); numbers masked per user."""
    stages = {value: str(label) for value, label in Customer.Stage.choices}
    sources = {value: str(label) for value, label in Customer.Source.choices}
    company = str(Customer.Kind.COMPANY.label)
    pool = gettext("Public pool")
    # customer.get_absolute_url() and customer.mobile_for(user), worked out once.
    url = reverse_ids(Customer.DETAIL_URL)
    mobile = Customer.mobiles_for(user)
    zone = get_current_timezone()
    rows = []
    for customer in customers:
        in_pool = customer.assigned_consultant_id is None
        rows.append(
            CustomerRow(
                pk=customer.pk,
                url=url(customer.pk),
                name=customer.name,
                kind_label=company if customer.kind == Customer.Kind.COMPANY else "",
                mobile=mobile(customer),
                stage=customer.stage,
                stage_label=stages.get(customer.stage, customer.stage),
                source_label=sources.get(customer.source, customer.source),
                consultant=pool
                if in_pool
                else User.name_of(*customer.consultant_names),
                in_pool=in_pool,
                last_contact=localtime(customer.last_contact_at, zone).strftime(
                    "%Y-%m-%d"
                )
                if customer.last_contact_at
                else "—",
                next_follow_up=customer.next_follow_up.strftime("%Y-%m-%d")
                if customer.next_follow_up
                else "—",
            )
        )
    return rows


@dataclass(frozen=True)
class QuickLogRow:
    """A customer in a work list (My day) with a one-line log form, worked out once so
    the list's loop only prints. ``logged`` (the kind's label) and ``next_follow_up``
    are set in the answer to a log made from the row."""

    pk: int
    url: str
    name: str
    mobile: str  # the stored number, for tel: links when shown in full
    mobile_display: str
    full_number: bool
    can_reveal: bool
    reveal_url: str
    log_url: str
    note: str = ""
    note_class: str = ""
    logged: str = ""
    next_follow_up: str = ""


def quick_log_rows(
    items: Iterable[tuple[Customer, str]], *, user: User, note_class: str = ""
) -> list[QuickLogRow]:
    """(customer, note) pairs as rows; numbers masked per user."""
    may_reveal = user.has_perm("customers.reveal_contact")
    # The links and the number's masking worked out once, not once per row.
    url = reverse_ids(Customer.DETAIL_URL)
    reveal_url = reverse_ids("customers:contact-reveal")
    log_url = reverse_ids("customers:interaction-create")
    mobile = Customer.mobiles_for(user)
    visible = Customer.contacts_visible_for(user)
    rows = []
    for customer, note in items:
        full = visible(customer)
        rows.append(
            QuickLogRow(
                pk=customer.pk,
                url=url(customer.pk),
                name=customer.name,
                mobile=customer.mobile,
                mobile_display=mobile(customer),
                full_number=full,
                can_reveal=may_reveal and not full,
                reveal_url=reveal_url(customer.pk),
                log_url=log_url(customer.pk),
                note=note,
                note_class=note_class,
            )
        )
    return rows


@dataclass(frozen=True)
class ContactRow:
    point: ContactPoint
    display: str


def contact_points_for(*, customer: Customer, user: User) -> list[ContactRow]:
    """Further contacts, phone numbers masked for users who may not see them."""
    visible = customer.contact_visible_to(user)
    rows = []
    points, _sql, _params = _contact_points_read().rows({"customer": customer.pk})
    for point in points:
        point.customer = customer  # as customer.contact_points gives them
        if point.kind in ContactPoint.PHONE_KINDS:
            display = format_phone(point.value) if visible else mask_phone(point.value)
        else:
            display = point.value
        rows.append(ContactRow(point, display))
    return rows


@functools.cache
def _contact_points_read() -> SliceRead:
    """A customer's further contacts in the page's order, the SQL compiled once."""
    points = ContactPoint.objects.filter(customer=STAND_IN).order_by("kind", "id")
    return SliceRead(points, {"customer": STAND_IN})


def household_of(*, customer: Customer, user: User) -> list[Customer]:
    """The other members of the customer's household that the user may see."""
    if customer.household_id is None:
        return []
    return list(
        Customer.objects.visible_to(user)
        .filter(household_id=customer.household_id)
        .exclude(pk=customer.pk)
        .order_by("name")
    )


# Audited fields shown masked to users who may not see the customer's numbers.
MASKED_FIELDS = {"mobile": mask_phone, "id_number": mask_id_number}

# A number in a further contact's entry ("手机号 +8618622223333", the kind in the
# writer's language): phones are stored in E.164; a bare mainland mobile is caught too.
_CONTACT_NUMBER = re.compile(r"(?<![\w+])\+\d{6,15}(?!\d)|(?<!\d)1[3-9]\d{9}(?!\d)")


def _contact_change(text: str, *, masked: bool, kind: str = "") -> str:
    """A further contact's entry with its number masked (138****8000), as the
    customer page shows it to this user, or written as people write it; its kind in
    the reader's language (stored as its code, or, in entries written before, as
    the label in the writer's language)."""
    show = mask_phone if masked else format_phone
    text = _CONTACT_NUMBER.sub(lambda number: show(number[0]), str(text))
    if not text:
        return ""
    if not kind:
        written, _space, value = text.partition(" ")
        kind = _contact_kinds().get(written, "")
        if kind:
            text = value
    if kind not in ContactPoint.Kind.values:
        return text
    return f"{ContactPoint.Kind(kind).label} {text}"


@functools.cache
def _contact_kinds() -> dict[str, str]:
    """A further contact's kind as every language of the site labels it → its code."""
    kinds = {}
    for language, _name in settings.LANGUAGES:
        with translation.override(language):
            kinds.update(
                {str(label): code for code, label in ContactPoint.Kind.choices}
            )
    return kinds


@dataclass(frozen=True)
class HistoryRow:
    entry: AuditEntry
    changes: list[tuple[str, str, str]]


def customer_history(*, customer: Customer, user: User, page: str | int | None) -> Page:
    """The customer's audit trail, numbers masked as everywhere else for this user."""
    # A feed read with an "Older" link: no total to show, so none is counted.
    result = paginate(audit_entries_for(customer), page=page, per_page=10, count=False)
    masked = not customer.contact_visible_to(user)
    rows = []
    for entry in result.items:
        changes = []
        for (label, old, new), name in zip(
            entry.readable_changes(), entry.changes, strict=True
        ):
            if masked and name in MASKED_FIELDS:
                mask = MASKED_FIELDS[name]
                old, new = (mask(old) if old else ""), (mask(new) if new else "")
            elif name == "contact_points":
                kind = str(entry.changes[name].get("kind", ""))
                old = _contact_change(old, masked=masked, kind=kind)
                new = _contact_change(new, masked=masked, kind=kind)
            elif name == "mobile":
                # Stored as +8613800138000; written as people write it.
                old, new = format_phone(old), format_phone(new)
            changes.append((label, old, new))
        rows.append(HistoryRow(entry, changes))
    return Page(items=rows, number=result.number, has_next=result.has_next)


def consent_history(*, customer: Customer) -> QuerySet:
    return (
        ConsentRecord.objects.filter(customer=customer)
        .select_related("recorded_by")
        .order_by("-recorded_at", "-id")
    )
