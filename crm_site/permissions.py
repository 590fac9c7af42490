"""What every view is, declared where the view is written.

Each view function carries one of these decorators; tests/security/test_crawl.py walks
every URL pattern and fails on a view that carries none.

- ``@see_required("app.perm")``: a page that changes nothing. It answers GET and HEAD
  only (anything else: 405) and needs the see permission (403 without it).
- ``@action_required("app.perm", see="app.other")``: a view that changes data. Every
  unsafe method (POST, PUT, PATCH, DELETE) needs the action permission; GET (the form
  page) needs ``see``, or the action permission itself when ``see`` is not given.
- ``@public("why")``: no login at all: signed links, the login page, the health page.
  The view proves who may use it itself (a signature, a token).
- ``@self_service("why")``: a logged-in user on their own things only (own
  notifications and saved filters, password, the landing page); no permission.
- ``@owner_required``: a page of the owners' portal (crm_site.portal). Only a signed-in
  owner session passes (its own cookie and table, never a staff session); the view
  gets ``request.owner`` (the customer), ``request.household_ids`` and
  ``request.owner_deal_ids`` (the deals the owner bought: their homes) and looks every
  object up within those ids (404 outside them). Anyone else is sent to the portal's
  sign-in page.

- ``api``: a call of the REST API under /api/v1/ (crm_site.api). No session: the
  caller presents an integration's key, whose scopes the view's ``required_scopes``
  must include and whose ``acts_as`` user the view checks permissions and row scope
  against, as the UI does.

The Django admin is a further kind, ``ADMIN``: it is classified by its namespace and
guarded by its own site (crm_site.admin_site, the ``crm_site.use_admin`` permission).

Row-level scope stays the view's business: look the object up within
``visible_to(user)`` / ``editable_by(user)`` (404 outside it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import wraps

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.utils.functional import SimpleLazyObject
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: URL namespaces served by the Django admin site.
ADMIN_NAMESPACES = frozenset({"admin"})


#: One permission, or several that are all needed (importing customers needs the import
#: right and the right to edit customers).
Perm = str | tuple[str, ...]


class Kind(StrEnum):
    SEE = "see"
    ACTION = "action"
    PUBLIC = "public"
    SELF_SERVICE = "self_service"
    ADMIN = "admin"
    OWNER = "owner"
    API = "api"


@dataclass(frozen=True)
class Access:
    """The declaration a view carries as ``view.access``."""

    kind: Kind
    see: Perm | None = None
    act: Perm | None = None
    reason: str = ""

    def permission_for(self, method: str) -> Perm | None:
        """The permission a request with this method needs (None: no permission)."""
        if self.kind in (
            Kind.PUBLIC,
            Kind.SELF_SERVICE,
            Kind.ADMIN,
            Kind.OWNER,
            Kind.API,
        ):
            return None
        if method.upper() in SAFE_METHODS:
            return self.see or self.act
        return self.act


View = Callable[..., HttpResponse]


def has_access(user: object, perm: Perm) -> bool:
    """Whether the user holds the permission (all of them, for a tuple)."""
    if isinstance(perm, tuple):
        return user.has_perms(perm)  # type: ignore[attr-defined]
    return user.has_perm(perm)  # type: ignore[attr-defined]


def _mark(view: View, access: Access) -> View:
    view.access = access  # type: ignore[attr-defined]
    return view


def _copy(view: View) -> View:
    """A wrapper to mark, so a shared function (Django's set_language) stays as it is."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        return view(request, *args, **kwargs)

    return wrapped


def see_required(perm: Perm) -> Callable[[View], View]:
    """A read-only page: GET/HEAD only, with the see permission."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method not in ("GET", "HEAD"):
                return HttpResponseNotAllowed(["GET", "HEAD"])
            if not has_access(request.user, perm):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return _mark(wrapped, Access(Kind.SEE, see=perm))

    return decorator


def action_required(perm: Perm, *, see: Perm | None = None) -> Callable[[View], View]:
    """A view that changes data: unsafe methods need ``perm``, GET needs ``see``."""

    def decorator(view: View) -> View:
        access = Access(Kind.ACTION, see=see, act=perm)

        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            needed = access.permission_for(request.method or "GET")
            if needed and not has_access(request.user, needed):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return _mark(wrapped, access)

    return decorator


def public(reason: str) -> Callable[[View], View]:
    """No login: the view checks its own token or signature (say which in reason)."""

    def decorator(view: View) -> View:
        return _mark(
            login_not_required(_copy(view)), Access(Kind.PUBLIC, reason=reason)
        )

    return decorator


def self_service(reason: str) -> Callable[[View], View]:
    """Logged in, no permission: the view touches only the user's own rows."""

    def decorator(view: View) -> View:
        return _mark(_copy(view), Access(Kind.SELF_SERVICE, reason=reason))

    return decorator


def owner_required(view: View) -> View:
    """A page of the owners' portal: a signed-in owner only (see crm_site.portal).

    Staff sessions never pass: the owner is read from the owner session alone, which
    has its own cookie and table. An owner whose record was merged away, anonymised or
    who may no longer sign in (the deal was lost) is signed out."""
    from crm_site import portal

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        owner = signed_in_owner(request)
        if owner is None:
            portal.sign_out(request)
            return _to_sign_in(request)
        request.owner = owner
        request.household_ids = portal.checked_household(request, owner)
        if request.household_ids is None:
            portal.sign_out(request)
            return _to_sign_in(request)
        # Asked only by the pages that show homes (one query), and fresh: a home
        # bought online shows at once, while the household is kept a minute.
        request.owner_deal_ids = SimpleLazyObject(lambda: portal.owner_deal_ids(owner))
        return view(request, *args, **kwargs)

    return _mark(login_not_required(wrapped), Access(Kind.OWNER, reason="owner"))


def signed_in_owner(request: HttpRequest):
    """The owner of the request's owner session, if still on record (not merged
    away or anonymised); None otherwise. owner_required asks it, and so does the
    opening day's lane (sales.opening_lane)."""
    from django.apps import apps

    from crm_site import portal

    pk = portal.owner_id(request)
    if pk is None:
        return None
    customer_model = apps.get_model("customers", "Customer")
    # By its key alone, then checked: with the conditions in the query, PostgreSQL
    # may reach the row through the partial index of live customers, scanning it.
    owner = customer_model.objects.filter(pk=pk).first()
    if owner is None or owner.is_gone:
        return None
    return owner


def _to_sign_in(request: HttpRequest) -> HttpResponse:
    from crm_site.reversing import cached_reverse

    url = cached_reverse("portal:sign-in")
    path = request.get_full_path()
    if request.method == "GET" and url_has_allowed_host_and_scheme(
        path, allowed_hosts=None
    ):
        url = f"{url}?{urlencode({'next': path})}"
    return HttpResponseRedirect(url)


def access_of(view: object, namespace: str = "") -> Access | None:
    """The declaration of a resolved view; None when the view declares nothing."""
    if namespace.split(":", 1)[0] in ADMIN_NAMESPACES:
        return Access(Kind.ADMIN, act="crm_site.use_admin")
    # Class-based views: as_view() keeps the class on view_class.
    return getattr(view, "access", None)
