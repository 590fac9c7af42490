"""The buyer's choice in the rush (在线抢选), answered before Django's middleware.

At T0 of a first-come online session two thousand phones POST their choice in the
same second, and most of them lose their race: for those, the whole answer is "sold,
here are the units still on sale". Through Django's middleware chain (sessions,
locale, CSRF, authentication, messages, …) and the view, each answer cost ~10 ms of
CPU, and the last phone of the rush waited half a minute for the others'. This lane
answers the phone's script (``POST …/opening/<entry>/units/<unit>/`` with ``Accept:
application/json``) in the page server's WSGI callable (crm_site.lanes), with the
same checks and the same answers as the view, for ~1.5 ms of the page server's CPU
(bench/opening.py):

- the CSRF token, by Django's own CsrfViewMiddleware;
- the owner: the portal's session cookie, then what ``owner_required`` asks (signed
  in, not merged away or anonymised, household checked within
  PORTAL_RECHECK_SECONDS, rechecked otherwise, with the session written back as
  OwnerSessionMiddleware would; an owner choosing for their own entry of an ordered
  or open session needs no household check, as holding it makes them eligible);
- the owner still on record and still with the mobile number the session was
  signed in with (portal.same_mobile: a new number ends the session, on every path),
  the entry the owner's or, among the portal household, a member's of the owner's
  own household (Customer.household_id, as the view's _own_entries), in an online
  session past its draft, and the unit offered in it: one statement.

Anything else (no cookie, a bad token, another buyer's entry, a plain form, a
database error) is left to Django, which answers as for any request: the lane only
ever answers what the view would have answered.

The choice itself (``choose``, the view's too) adds a gate in front of the
selection's row locks: the first phone to ask for a unit takes a claim on it in
Redis for CLAIM_SECONDS; the others hear "someone was faster" from Redis, without a
transaction. A failed selection lifts its claim. The gate only spares work: the
database decides every sale (sales.services.opening), and with Redis down every
request goes to it. The units still on sale are read from the database at most once
per AVAILABLE_SECONDS and session, less the units claimed meanwhile.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import time
from dataclasses import dataclass

import redis
from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.core.handlers.wsgi import WSGIRequest, get_script_name
from django.db import DatabaseError, connection
from django.http import HttpResponse, JsonResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import reverse, set_script_prefix
from django.utils import timezone, translation
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from crm_site import live, portal, prepared
from crm_site.csp import CSPMiddleware
from crm_site.permissions import signed_in_owner
from customers.models import Customer
from sales.models import (
    IntentDeposit,
    Selection,
    SelectionSession,
    SessionEntry,
    SessionUnit,
    Unit,
)
from sales.portal import ONLINE_MODES, SELECTING_STATUSES
from sales.services.deals import UnitUnavailable
from sales.services.opening import (
    SelectionRefused,
    check_buyer_limit,
    check_turn,
    selection_claim,
)

log = logging.getLogger(__name__)

SOLD_WORDS = gettext_noop("This unit was just sold. Please choose another one.")
# How long a unit's claim holds back other phones: far longer than a claim takes
# (~10 ms, longer in the rush's queue), short enough that a claimer that died frees the unit at once.
CLAIM_SECONDS = 5.0
AVAILABLE_SECONDS = 1.0
MAX_BODY = 4096

# As Django's resolver reads the path (its int converter: ASCII digits; fullmatch:
# no trailing newline, which "$" would let through).
_PATH = re.compile(
    rf"{re.escape(settings.PORTAL_PATH)}sales/opening/([0-9]+)/units/([0-9]+)/"
)


# The choice: the view's and the lane's --------------------------------------------


@dataclass(frozen=True)
class Choice:
    result: str  # "chosen", "taken" or "refused"
    selection: Selection | None = None
    refusal: SelectionRefused | None = None


@dataclass(frozen=True)
class Seen:
    """What the request read of the buyer's entry a moment ago, without locks."""

    session: SelectionSession  # status, mode, order, starts_at, units_per_buyer
    entry: SessionEntry  # slot_starts_at
    chosen: int  # the buyer's selections in the session, not cancelled
    held_id: int | None  # the buyer's selection of the unit asked for, if any


def choose(
    *,
    entry_id: int,
    session_id: int,
    unit_id: int,
    unit_status: str,
    seen: Seen,
    owner_id: int,
) -> Choice:
    """The buyer's phone chooses ``unit_id`` (an offered unit, ``unit_status`` as
    read a moment ago): claimed for them, or taken, or refused with the rule's
    reason. The subscription's paperwork follows in a worker.

    ``seen`` answers two cases before the unit is claimed. A unit the buyer already
    holds is theirs: a phone that lost the answer to its choice and asks again is
    told it was chosen, not "someone was faster". And a buyer whose turn has not
    come, or who holds as many units as the session allows, is refused without a
    claim: a claim makes the unit look sold to every other phone while it lasts,
    and such a buyer's requests, scripted across the grid, would otherwise keep
    units from the buyers who may choose them. The claim checks every rule again
    under its locks. ``owner_id``, who chose, is recorded with the claim only once
    the unit is theirs (selection_claim)."""
    if seen.held_id is not None:
        return Choice("chosen", selection=Selection(pk=seen.held_id))
    try:
        check_turn(
            session=seen.session,
            entry=seen.entry,
            channel=Selection.Channel.ONLINE,
            now=timezone.now(),
        )
        check_buyer_limit(session=seen.session, chosen=seen.chosen)
    except SelectionRefused as exc:
        return Choice("refused", refusal=exc)
    if unit_status != Unit.Status.AVAILABLE or not _claim(session_id, unit_id):
        return Choice("taken")
    try:
        selection = selection_claim(
            session=SelectionSession(pk=session_id),
            entry=SessionEntry(pk=entry_id),
            unit=Unit(pk=unit_id),
            channel=Selection.Channel.ONLINE,
            owner_id=owner_id,
        )
    except UnitUnavailable:
        _unclaim(session_id, unit_id)
        return Choice("taken")
    except SelectionRefused as exc:
        _unclaim(session_id, unit_id)
        return Choice("refused", refusal=exc)
    except BaseException:
        _unclaim(session_id, unit_id)
        raise
    return Choice("chosen", selection=selection)


def seen_of(entry: SessionEntry, unit_id: int) -> Seen:
    """Seen for the view: ``entry`` with its session (select_related) and its
    slot_starts_at; the buyer's selections in one query."""
    held = dict(
        Selection.objects.filter(entry=entry, cancelled_at=None).values_list(
            "unit_id", "pk"
        )
    )
    return Seen(
        session=entry.session,
        entry=entry,
        chosen=len(held),
        held_id=held.get(unit_id),
    )


def grid_url(entry_id: int, *, taken: int | None = None) -> str:
    url = reverse("sales_portal:opening-session", args=[entry_id])
    return f"{url}?taken={taken}" if taken else url


def answer_data(*, entry_id: int, session_id: int, unit_id: int, choice: Choice):
    """What the phone's script is told (static/js/opening_phone.js): all 200, as
    losing a race is the rush's everyday answer, not an error."""
    if choice.result == "chosen":
        assert choice.selection is not None
        done = reverse(
            "sales_portal:opening-selection",
            kwargs={"pk": entry_id, "selection": choice.selection.pk},
        )
        return {"result": "chosen", "url": done}
    if choice.result == "refused":
        assert choice.refusal is not None
        return {
            "result": "refused",
            "code": choice.refusal.code,
            "message": choice.refusal.messages[0],
            "grid": grid_url(entry_id),
        }
    # Someone was faster: the units still on sale, a few hundred bytes instead of
    # the grid's ~190 KB (in the rush every buyer but one per unit hears this).
    return {
        "result": "taken",
        "unit": unit_id,
        "message": _(SOLD_WORDS),
        "available": available_units(session_id),
        "grid": grid_url(entry_id, taken=unit_id),
    }


def available_units(session_id: int) -> list[int]:
    """The session's units still on sale, by id: read from the database at most
    once per AVAILABLE_SECONDS, less the units claimed since."""
    cached = claims = None
    try:
        pipe = live.client().pipeline(transaction=False)
        pipe.get(_available_key(session_id))
        pipe.hgetall(_claims_key(session_id))
        cached, claims = pipe.execute()
    except redis.RedisError:
        pass
    if cached is not None:
        units = json.loads(cached)
    else:
        units = list(
            SessionUnit.objects.filter(
                session=session_id, unit__status=Unit.Status.AVAILABLE
            )
            .order_by("unit_id")
            .values_list("unit_id", flat=True)
        )
        with contextlib.suppress(redis.RedisError):
            live.client().set(
                _available_key(session_id),
                json.dumps(units),
                px=int(AVAILABLE_SECONDS * 1000),
            )
    if not claims:
        return units
    now = time.time()
    claimed = {int(unit) for unit, until in claims.items() if float(until) > now}
    return [unit for unit in units if unit not in claimed]


def _available_key(session_id: int) -> str:
    return f"{live.prefix()}:opening:{session_id}:available"


def _claims_key(session_id: int) -> str:
    return f"{live.prefix()}:opening:{session_id}:claims"


def _claim(session_id: int, unit_id: int) -> bool:
    """True when no other phone has claimed the unit within CLAIM_SECONDS: this
    one may ask the database for it."""
    key, now = _claims_key(session_id), time.time()
    until = repr(now + CLAIM_SECONDS)
    try:
        client = live.client()
        pipe = client.pipeline(transaction=False)
        pipe.hsetnx(key, unit_id, until)
        pipe.hget(key, unit_id)
        pipe.expire(key, 3600)
        first, held, _expire = pipe.execute()
        if first:
            return True
        if held is not None and float(held) > now:
            return False
        # The claim lapsed (its claimer failed without lifting it): take it over.
        # Two phones doing so at once both reach the database, which decides.
        client.hset(key, unit_id, until)
    except redis.RedisError:
        pass  # no gate: the database decides, as it always does
    return True


def _unclaim(session_id: int, unit_id: int) -> None:
    # Should Redis fail, the claim lapses after CLAIM_SECONDS.
    with contextlib.suppress(redis.RedisError):
        live.client().hdel(_claims_key(session_id), unit_id)


# The lane ----------------------------------------------------------------------------


# The session statuses in which a buyer sees an entry (the view's: past its draft),
# and those in which holding one makes a buyer eligible to sign in.
SHOWN = [str(s) for s in SelectionSession.Status if s != SelectionSession.Status.DRAFT]
SELECTING = [str(s) for s in SELECTING_STATUSES]


def _checked_lookup(request: WSGIRequest, entry_id: int, unit_id: int, owner_id: int):
    owner = signed_in_owner(request)
    if owner is None:
        return None
    household = portal.checked_household(request, owner)
    if household is None:
        return None
    return _lookup(entry_id, household, unit_id, owner_id, SHOWN, request.owner_session)


# The lane's one statement, prepared once per database connection: planning a join
# of six tables cost PostgreSQL more than running it (0.8 ms a lookup, 0.2 ms
# prepared), thousands of times in a rush. The owner's row is read by its key alone
# (OFFSET 0 keeps the planner from reaching it through a partial index of live
# customers, which it did, scanning them all), then checked; its mobile number is
# returned for the session's stamp (portal.same_mobile), a secret's hash PostgreSQL
# cannot compute. The name carries the SQL's version, to be raised with any change
# of it: ensure_statement knows a statement by its name alone, and a server session
# that outlived the previous release's process (behind a pooler) may still hold
# that release's statement, whose name PREPARE would refuse.
_LOOKUP = "anju_opening_lookup_v2"
_LOOKUP_SQL = f"""
    PREPARE {_LOOKUP} (bigint, bigint, bigint, bigint[], text[], text[]) AS
    SELECT e.session_id, u.status, su.id IS NOT NULL,
        s.status, s.mode, s."order", s.starts_at, s.units_per_buyer, e.slot_starts_at,
        (SELECT count(*) FROM {Selection._meta.db_table} x
         WHERE x.entry_id = e.id AND x.cancelled_at IS NULL),
        (SELECT x.id FROM {Selection._meta.db_table} x
         WHERE x.unit_id = $2 AND x.entry_id = e.id AND x.cancelled_at IS NULL),
        c.mobile
    FROM {SessionEntry._meta.db_table} e
    JOIN {IntentDeposit._meta.db_table} d ON d.id = e.deposit_id
    JOIN {SelectionSession._meta.db_table} s ON s.id = e.session_id
    JOIN (
        SELECT merged_into_id, anonymised_at, household_id, mobile
        FROM {Customer._meta.db_table}
        WHERE id = $1 OFFSET 0
    ) c ON c.merged_into_id IS NULL AND c.anonymised_at IS NULL
    LEFT JOIN {SessionUnit._meta.db_table} su
        ON su.session_id = e.session_id AND su.unit_id = $2
    LEFT JOIN {Unit._meta.db_table} u ON u.id = su.unit_id
    WHERE e.id = $3
      AND (d.customer_id = $1 OR (
        d.customer_id = ANY($4) AND c.household_id = (
            SELECT h.household_id FROM {Customer._meta.db_table} h
            WHERE h.id = d.customer_id
        )
      ))
      AND s.mode = ANY($5) AND s.status = ANY($6)
"""


def _lookup(
    entry_id: int,
    household: frozenset[int],
    unit_id: int,
    owner_id: int,
    statuses: list[str],
    session: portal.SessionStore | None = None,
):
    """The owner's entry, or one of ``household`` (the portal household) whose
    holder is of the owner's own household (Customer.household_id; the view's
    _own_entries), in an online session in one of ``statuses``, for an owner still
    on record (not merged away or anonymised: owner_required's
    question) and, given the owner ``session`` (the lane always gives it), still
    with the mobile number it was signed in with (same_mobile, which
    checked_household asks): its session's id, the unit's status, whether the
    session offers the unit, then what Seen holds (_seen); None when there is no
    such entry or owner."""
    with connection.cursor() as cursor:
        prepared.ensure_statement(connection, cursor, _LOOKUP, _LOOKUP_SQL)
        cursor.execute(
            f"EXECUTE {_LOOKUP} (%s, %s, %s, %s, %s, %s)",
            [
                owner_id,
                unit_id,
                entry_id,
                sorted(household),
                [str(mode) for mode in ONLINE_MODES],
                statuses,
            ],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    if session is not None and not portal.same_mobile(
        session, Customer(pk=owner_id, mobile=row[-1])
    ):
        return None
    return row[:-1]


def _seen(entry_id: int, session_id: int, row: tuple) -> Seen:
    status, mode, order, starts_at, units_per_buyer, slot_starts_at, chosen, held = row
    return Seen(
        session=SelectionSession(
            pk=session_id,
            status=status,
            mode=mode,
            order=order,
            starts_at=starts_at,
            units_per_buyer=units_per_buyer,
        ),
        entry=SessionEntry(pk=entry_id, slot_starts_at=slot_starts_at),
        chosen=chosen,
        held_id=held,
    )


def _response(request: WSGIRequest, data: dict) -> HttpResponse:
    """The JSON answer with the headers Django's middleware gives the view's."""
    response = JsonResponse(data)
    add_never_cache_headers(response)
    patch_vary_headers(response, ("Cookie", "Accept-Language"))
    response.headers["Content-Language"] = translation.get_language()
    response = _SECURITY.process_response(request, response)
    response = _POLICY.process_response(request, response)
    response = _FRAMES.process_response(request, response)
    return portal.OwnerSessionMiddleware._save(request, response)


def answer(environ: dict) -> HttpResponse | None:
    """The lane's answer to the request, or None: Django answers it."""
    if environ.get("REQUEST_METHOD") != "POST":
        return None
    match = _PATH.fullmatch(environ.get("PATH_INFO", ""))
    if match is None or "application/json" not in environ.get("HTTP_ACCEPT", ""):
        return None
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if not 0 < length <= MAX_BODY:
        return None
    # Read once, kept for Django should the lane leave the request to it.
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    try:
        return _answer(environ, int(match[1]), int(match[2]))
    except DatabaseError:
        log.warning("opening lane: database error, left to Django", exc_info=True)
        connection.close()
        return None
    except SuspiciousOperation:
        return None  # a bad Host header, say: Django answers 400 and reports it
    except Exception:
        # Django answers, with its own error page and report should it fail too. A
        # claim that committed before the failure is the buyer's: the view finds
        # the unit held by the entry and answers "chosen" (choose, Seen.held_id).
        log.exception("opening lane failed, left to Django")
        return None
    finally:
        environ["wsgi.input"] = io.BytesIO(body)


def _answer(environ: dict, entry_id: int, unit_id: int) -> HttpResponse | None:
    from sales.views_portal_opening import opening_choose

    set_script_prefix(get_script_name(environ))
    request = WSGIRequest(environ)
    request.owner_session = portal.SessionStore(
        request.COOKIES.get(settings.PORTAL_SESSION_COOKIE)
    )
    if portal.owner_id(request) is None:
        return None
    # As Django's middleware would first: a Host not allowed raises (Django answers
    # 400), and a plain-HTTP request where HTTPS is required is redirected by it.
    request.get_host()
    if _SECURITY.process_request(request) is not None:
        return None
    _CSRF.process_request(request)
    if _CSRF.process_view(request, opening_choose, (), {}) is not None:
        return None
    owner_id = portal.owner_id(request)
    session = request.owner_session
    # A session whose owner's mobile number changed finds nothing: Django signs it
    # out (owner_required), on every path below as on the household's check.
    household = portal.kept_household(session)
    if household is not None:
        found = _lookup(entry_id, household, unit_id, owner_id, SHOWN, session)
    else:
        # The household is due for its check (every PORTAL_RECHECK_SECONDS), as on
        # the first choice of a phone that waited on the countdown. The owner's own
        # entry in an ordered or open online session needs none: holding it is what
        # makes them eligible (sales.portal.opening_eligible), whoever else the
        # household is. Another member's entry goes through owner_required's check.
        found = _lookup(
            entry_id, frozenset([owner_id]), unit_id, owner_id, SELECTING, session
        )
        if found is None:
            found = _checked_lookup(request, entry_id, unit_id, owner_id)
    if found is None or not found[2]:
        return None  # not found, as the view says
    session_id, unit_status = found[:2]
    language = translation.get_language_from_request(request)
    with translation.override(language):
        choice = choose(
            entry_id=entry_id,
            session_id=session_id,
            unit_id=unit_id,
            unit_status=unit_status,
            seen=_seen(entry_id, session_id, found[3:]),
            owner_id=owner_id,
        )
        data = answer_data(
            entry_id=entry_id, session_id=session_id, unit_id=unit_id, choice=choice
        )
        return _response(request, data)


def _nothing(request):  # pragma: no cover - the middlewares' get_response, unused
    raise AssertionError


_CSRF = CsrfViewMiddleware(_nothing)
_SECURITY = SecurityMiddleware(_nothing)
_POLICY = CSPMiddleware(_nothing)
_FRAMES = XFrameOptionsMiddleware(_nothing)
