"""The owners' portal: its sections, the household and eligibility hooks, and the
owner session.

Sections, like the customer page's panels (crm_site.panels), come from the apps: each
registers its portal pages in its AppConfig.ready() with ``register`` and the base
template (templates/portal/base.html) draws the navigation from ``sections()``, so
crm_site imports no app.

Who may sign in and whose records an owner sees are the apps' knowledge too: sales
knows who bought (subscription or later) and who is a co-buyer, service who has a
handover appointment. They fill two hook registries:

- ``register_household(fn)``: fn(customer) -> set of customer ids in the same
  household (the buyer and co-buyers sharing a deal or unit);
- ``register_deals(fn)``: fn(customer) -> ids of the deals the customer bought, as
  buyer or co-buyer: the owner's homes. Homes, payments, units and appointments are
  read from these, never from what another member of the household bought (a
  co-buyer's other home, bought with someone else, is not the owner's);
- ``register_eligibility(fn)``: fn(customer_ids) -> the subset that may sign in.

Owner sessions are not staff sessions. They live in their own table
(crm_site.PortalSession) behind their own cookie (``PORTAL_SESSION_COOKIE``) whose
path is /portal/, so the browser never even sends it to a staff page, and a staff
session key given as the owner cookie finds nothing (another table). Views for owners
carry ``crm_site.permissions.owner_required``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.cached_db import SessionStore as CachedDbStore
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import rotate_token
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.functional import Promise

from crm_site.reversing import cached_reverse

# Session keys of an owner session.
OWNER_KEY = "portal_owner_id"
HOUSEHOLD_KEY = "portal_household"
CHECKED_AT_KEY = "portal_checked_at"
SIGNED_IN_AT_KEY = "portal_signed_in_at"
REMEMBERED_KEY = "portal_remembered"
# A keyed hash of the mobile number the owner signed in with: a new number (a phone
# lost, a number given up) ends the sessions of the old one, as a new password ends
# a staff user's sessions.
MOBILE_KEY = "portal_mobile"

# Sections ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    key: str
    title: str | Promise
    url_name: str
    order: int = 100
    icon: str = ""
    shown: Callable[[Any], bool] | None = None

    @property
    def url(self) -> str:
        return cached_reverse(self.url_name)


_SECTIONS: dict[str, Section] = {}


def register(
    key: str,
    *,
    title: str | Promise,
    url_name: str,
    order: int = 100,
    icon: str = "",
    shown: Callable[[Any], bool] | None = None,
) -> None:
    """Add a portal section; registering a key again replaces it (ready() may run
    twice). ``shown(owner_ctx)`` hides it for an owner it does not concern; it gets
    an OwnerContext and must not query much: it runs on every portal page."""
    _SECTIONS[key] = Section(key, title, url_name, order, icon, shown)


def sections() -> list[Section]:
    return sorted(_SECTIONS.values(), key=lambda s: (s.order, s.key))


@dataclass(frozen=True)
class OwnerContext:
    """What a section's ``shown`` may look at: the owner and their household."""

    owner: Any
    household_ids: frozenset[int]


def sections_for(ctx: OwnerContext) -> list[Section]:
    return [s for s in sections() if s.shown is None or s.shown(ctx)]


# Panels on a home ---------------------------------------------------------------------
#
# Sales draws the owner's homes (my homes); other apps add what they know about each
# unit (service: the handover slot and the inspection) as panels under it, without
# sales importing them. ``context(household_ids, unit_ids)`` answers for all the units
# at once (a query or two whatever their number): {unit id: template context}, a unit
# it has nothing about left out.


@dataclass(frozen=True)
class HomePanel:
    key: str
    template: str
    context: Callable[[frozenset[int], list[int]], dict[int, dict[str, Any]]]
    order: int = 100


_HOME_PANELS: dict[str, HomePanel] = {}


def register_home_panel(
    key: str,
    *,
    template: str,
    context: Callable[[frozenset[int], list[int]], dict[int, dict[str, Any]]],
    order: int = 100,
) -> None:
    _HOME_PANELS[key] = HomePanel(key, template, context, order)


def home_panels(
    household_ids: frozenset[int], unit_ids: list[int]
) -> dict[int, list[tuple[str, dict[str, Any]]]]:
    """{unit id: [(template, context), ...]} in panel order."""
    found: dict[int, list[tuple[str, dict[str, Any]]]] = {pk: [] for pk in unit_ids}
    if not unit_ids:
        return found
    for panel in sorted(_HOME_PANELS.values(), key=lambda p: (p.order, p.key)):
        for unit_id, ctx in panel.context(household_ids, unit_ids).items():
            if unit_id in found:
                found[unit_id].append((panel.template, ctx))
    return found


# Household and eligibility hooks ----------------------------------------------------

_HOUSEHOLD: list[Callable[[Any], Iterable[int]]] = []
_DEALS: list[Callable[[Any], Iterable[int]]] = []
_ELIGIBILITY: list[Callable[[Iterable[int]], Iterable[int]]] = []


def register_household(fn: Callable[[Any], Iterable[int]]) -> None:
    if fn not in _HOUSEHOLD:
        _HOUSEHOLD.append(fn)


def register_deals(fn: Callable[[Any], Iterable[int]]) -> None:
    if fn not in _DEALS:
        _DEALS.append(fn)


def register_eligibility(fn: Callable[[Iterable[int]], Iterable[int]]) -> None:
    if fn not in _ELIGIBILITY:
        _ELIGIBILITY.append(fn)


def household_ids(customer: Any) -> frozenset[int]:
    """The ids of the customers whose records this owner may see: always the owner,
    plus whoever the apps say shares a deal or a unit with them."""
    ids = {customer.pk}
    for fn in _HOUSEHOLD:
        ids.update(fn(customer))
    return frozenset(ids)


def owner_deal_ids(customer: Any) -> frozenset[int]:
    """The ids of the deals this owner bought, as buyer or co-buyer (their homes):
    asked on each request that needs them (an index look-up or two), as a new home
    must show at once."""
    ids: set[int] = set()
    for fn in _DEALS:
        ids.update(fn(customer))
    return frozenset(ids)


def eligible_ids(customer_ids: Iterable[int]) -> set[int]:
    """The subset of these customers who may sign in to the portal."""
    wanted = set(customer_ids)
    allowed: set[int] = set()
    for fn in _ELIGIBILITY:
        if not wanted - allowed:
            break
        allowed.update(set(fn(wanted - allowed)) & wanted)
    return allowed


def is_eligible(customer: Any) -> bool:
    return customer.pk in eligible_ids([customer.pk])


# Owner sessions ---------------------------------------------------------------------


class SessionStore(CachedDbStore):
    """Owner sessions: Redis in front of their own table, like staff sessions."""

    cache_key_prefix = "anju.portal_session"

    @classmethod
    def get_model_class(cls):
        from crm_site.models import PortalSession

        return PortalSession


def _in_portal(request: HttpRequest) -> bool:
    return request.path_info.startswith(settings.PORTAL_PATH)


class OwnerSessionMiddleware:
    """Loads the owner session (``request.owner_session``) on portal paths only and
    writes its cookie back, scoped to the portal's path."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not _in_portal(request):
            request.owner_session = None
            return self.get_response(request)
        key = request.COOKIES.get(settings.PORTAL_SESSION_COOKIE)
        request.owner_session = SessionStore(key)
        response = self.get_response(request)
        return self._save(request, response)

    @staticmethod
    def _save(request: HttpRequest, response: HttpResponse) -> HttpResponse:
        session = request.owner_session
        cookie = settings.PORTAL_SESSION_COOKIE
        if session is None:
            return response
        if cookie in request.COOKIES and session.is_empty():
            response.delete_cookie(cookie, path=settings.PORTAL_PATH)
            patch_vary_headers(response, ("Cookie",))
            return response
        if not session.modified or session.is_empty():
            return response
        patch_vary_headers(response, ("Cookie",))
        if response.status_code >= 500:
            return response
        session.save()
        remembered = bool(session.get(REMEMBERED_KEY))
        response.set_cookie(
            cookie,
            session.session_key,
            # A remembered device keeps the cookie for 30 days; otherwise it ends
            # with the browser (the server side still expires it, see sign_in).
            max_age=settings.PORTAL_REMEMBER_DAYS * 24 * 3600 if remembered else None,
            path=settings.PORTAL_PATH,
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Lax",
        )
        return response


def sign_in(request: HttpRequest, *, customer: Any, remember: bool) -> None:
    """Start an owner session for the customer, with a new key and a new CSRF token
    (no fixation of either: Django's login rotates the token too)."""
    session = request.owner_session
    if session is None:  # pragma: no cover - only portal views sign in
        raise RuntimeError("owner sessions exist under the portal's path only")
    session.flush()
    session[OWNER_KEY] = customer.pk
    session[SIGNED_IN_AT_KEY] = timezone.now().isoformat()
    session[REMEMBERED_KEY] = remember
    session[MOBILE_KEY] = mobile_stamp(customer)
    session.set_expiry(
        timedelta(days=settings.PORTAL_REMEMBER_DAYS)
        if remember
        else timedelta(seconds=settings.PORTAL_SESSION_SECONDS)
    )
    session.cycle_key()
    rotate_token(request)


def mobile_stamp(customer: Any) -> str:
    """The keyed hash of the customer's mobile kept in their owner session."""
    return salted_hmac(
        "crm_site.portal.mobile", customer.mobile or "", algorithm="sha256"
    ).hexdigest()


def same_mobile(session: SessionStore, owner: Any) -> bool:
    """Whether the owner still has the mobile number the session was signed in
    with. A session written before numbers were kept (or by the opening bench)
    holds none and passes; it ends within PORTAL_REMEMBER_DAYS anyway."""
    stamp = session.get(MOBILE_KEY)
    return stamp is None or constant_time_compare(stamp, mobile_stamp(owner))


def sign_out(request: HttpRequest) -> None:
    session = getattr(request, "owner_session", None)
    if session is not None:
        session.flush()


def owner_id(request: HttpRequest) -> int | None:
    session = getattr(request, "owner_session", None)
    if session is None:
        return None
    value = session.get(OWNER_KEY)
    return int(value) if value else None


def checked_household(request: HttpRequest, owner: Any) -> frozenset[int] | None:
    """The owner's household ids, or None when they may no longer sign in.

    Whether the owner is still eligible, and who their household is, are asked of
    the apps' hooks (a few queries) at most every PORTAL_RECHECK_SECONDS and kept in
    the owner session meanwhile: a deal lost or a co-buyer removed takes effect
    within that time. The owner's deals (owner_deal_ids) are not kept: a home bought
    online shows under "My homes" at once. A session signed in with a mobile number
    the owner no longer has is None at once (same_mobile)."""
    session = request.owner_session
    if not same_mobile(session, owner):
        return None
    kept = kept_household(session)
    if kept is not None:
        return kept
    if not is_eligible(owner):
        return None
    ids = household_ids(owner)
    session[HOUSEHOLD_KEY] = sorted(ids)
    session[CHECKED_AT_KEY] = timezone.now().timestamp()
    return ids


def kept_household(session: SessionStore) -> frozenset[int] | None:
    """The household ids the owner session keeps, if they were checked less than
    PORTAL_RECHECK_SECONDS ago; None when they are due for a check."""
    checked = session.get(CHECKED_AT_KEY)
    kept = session.get(HOUSEHOLD_KEY)
    if (
        checked is not None
        and kept is not None
        and 0 <= timezone.now().timestamp() - checked < settings.PORTAL_RECHECK_SECONDS
    ):
        return frozenset(kept)
    return None


def session_for(customer: Any, *, remember: bool = False) -> SessionStore:
    """A saved owner session for the customer (tests and the bench sign owners in
    with it, as Client.force_login does for staff)."""
    session = SessionStore()
    session[OWNER_KEY] = customer.pk
    session[SIGNED_IN_AT_KEY] = timezone.now().isoformat()
    session[REMEMBERED_KEY] = remember
    session[MOBILE_KEY] = mobile_stamp(customer)
    session.set_expiry(
        timedelta(days=settings.PORTAL_REMEMBER_DAYS)
        if remember
        else timedelta(seconds=settings.PORTAL_SESSION_SECONDS)
    )
    session.save()
    return session
