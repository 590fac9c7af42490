"""The REST API under /api/v1/: each app registers its resources.

Like the customer page's panels and the portal's sections, ``crm_site`` imports no
app: an app registers its viewsets (and any plain API views) in its
``AppConfig.ready()``::

    from crm_site import api
    api.register("customers", CustomerViewSet, basename="customer")
    api.register_path(path("telephony/calls/", call_event, name="telephony-call"))

Every call authenticates with an integration's key (crm_site.api.auth), needs the
view's ``required_scopes`` (crm_site.api.scopes) and then runs the same services,
row scopes and masking as the UI, as the key's ``acts_as`` user.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import URLPattern


@dataclass(frozen=True)
class Route:
    prefix: str
    viewset: type
    basename: str


_routes: dict[str, Route] = {}
_paths: list[URLPattern] = []


def register(prefix: str, viewset: type, *, basename: str) -> None:
    """A viewset under /api/v1/<prefix>/ (URL names ``api:<basename>-list`` …)."""
    _routes[prefix] = Route(prefix, viewset, basename)


def register_path(pattern: URLPattern) -> None:
    """A plain API view (an APIView or @api_view function) under /api/v1/."""
    _paths.append(pattern)


def routes() -> list[Route]:
    return sorted(_routes.values(), key=lambda route: route.prefix)


def paths() -> list[URLPattern]:
    return list(_paths)
