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

The Django admin is the fourth kind, ``ADMIN``: it is classified by its namespace and
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
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: URL namespaces served by the Django admin site.
ADMIN_NAMESPACES = frozenset({"admin"})


class Kind(StrEnum):
    SEE = "see"
    ACTION = "action"
    PUBLIC = "public"
    SELF_SERVICE = "self_service"
    ADMIN = "admin"


@dataclass(frozen=True)
class Access:
    """The declaration a view carries as ``view.access``."""

    kind: Kind
    see: str | None = None
    act: str | None = None
    reason: str = ""

    def permission_for(self, method: str) -> str | None:
        """The permission a request with this method needs (None: no permission)."""
        if self.kind in (Kind.PUBLIC, Kind.SELF_SERVICE, Kind.ADMIN):
            return None
        if method.upper() in SAFE_METHODS:
            return self.see or self.act
        return self.act


View = Callable[..., HttpResponse]


def _mark(view: View, access: Access) -> View:
    view.access = access  # type: ignore[attr-defined]
    return view


def see_required(perm: str) -> Callable[[View], View]:
    """A read-only page: GET/HEAD only, with the see permission."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method not in ("GET", "HEAD"):
                return HttpResponseNotAllowed(["GET", "HEAD"])
            if not request.user.has_perm(perm):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return _mark(wrapped, Access(Kind.SEE, see=perm))

    return decorator


def action_required(perm: str, *, see: str | None = None) -> Callable[[View], View]:
    """A view that changes data: unsafe methods need ``perm``, GET needs ``see``."""

    def decorator(view: View) -> View:
        access = Access(Kind.ACTION, see=see, act=perm)

        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            needed = access.permission_for(request.method or "GET")
            if needed and not request.user.has_perm(needed):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return _mark(wrapped, access)

    return decorator


def public(reason: str) -> Callable[[View], View]:
    """No login: the view checks its own token or signature (say which in reason)."""

    def decorator(view: View) -> View:
        return _mark(login_not_required(view), Access(Kind.PUBLIC, reason=reason))

    return decorator


def self_service(reason: str) -> Callable[[View], View]:
    """Logged in, no permission: the view touches only the user's own rows."""

    def decorator(view: View) -> View:
        return _mark(view, Access(Kind.SELF_SERVICE, reason=reason))

    return decorator


def access_of(view: object, namespace: str = "") -> Access | None:
    """The declaration of a resolved view; None when the view declares nothing."""
    if namespace.split(":", 1)[0] in ADMIN_NAMESPACES:
        return Access(Kind.ADMIN, act="crm_site.use_admin")
    # Class-based views: as_view() keeps the class on view_class.
    return getattr(view, "access", None)
