"""/api/v1/: the registered resources, the OpenAPI schema and its documentation."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from drf_spectacular.views import SpectacularAPIView
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


def docs(request: HttpRequest) -> HttpResponse:
    """Redoc on the schema, from our own template and static/api/docs.js: the stock
    templates carry inline scripts, which the site's CSP refuses."""
    return render(request, "api/docs.html", {"schema_url": reverse("api:schema")})


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
        public(DOCS)(docs),
        name="docs",
    ),
    *_api_views([*router.urls, *api.paths()]),
]
