"""/api/v1/: the registered resources, the OpenAPI schema and its documentation."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView
from rest_framework.routers import SimpleRouter

from crm_site import api
from crm_site.permissions import Access, Kind, public

app_name = "api"

DOCS = "the API's schema and documentation: no data, what integrators read"


def _api_views(patterns: list) -> list:
    """Mark each API view for the crawl (crm_site.permissions): a key, not a login."""
    for pattern in patterns:
        callback = login_not_required(pattern.callback)
        callback.access = Access(Kind.API, reason="an integration's key and scope")
    return patterns


router = SimpleRouter(trailing_slash="/?")
for route in api.routes():
    router.register(route.prefix, route.viewset, basename=route.basename)

urlpatterns = [
    path(
        "schema/",
        public(DOCS)(SpectacularAPIView.as_view(urlconf="crm_site.api.v1_urls")),
        name="schema",
    ),
    path(
        "docs/",
        public(DOCS)(SpectacularRedocView.as_view(url_name="api:schema")),
        name="docs",
    ),
    *_api_views([*router.urls, *api.paths()]),
]
