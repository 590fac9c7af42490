"""A URLconf for the foundation's tests: the real /api/v1/ plus the test-only
resource of tests/api/resource.py, and the rest of the site."""

from __future__ import annotations

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from crm_site.api import urls as api_urls
from crm_site.urls import urlpatterns as site_patterns
from tests.api.resource import PingView, TeamViewSet

router = SimpleRouter(trailing_slash="/?")
router.register("test-teams", TeamViewSet, basename="test-team")

api_patterns = [
    *api_urls.urlpatterns,
    *api_urls._api_views(
        [*router.urls, path("test-ping/", PingView.as_view(), name="test-ping")]
    ),
]

urlpatterns = [
    path("api/v1/", include((api_patterns, "api"))),
    *[p for p in site_patterns if str(p.pattern) != "api/v1/"],
]

# The test resource's own schema, for the fuzz of the foundation (test_fuzz_schema).
urlpatterns.insert(
    0,
    path(
        "api/v1/test-schema/",
        api_urls.public(api_urls.DOCS)(
            api_urls.SpectacularAPIView.as_view(urlconf="tests.api.urls")
        ),
        name="test-schema",
    ),
)


def _test_docs(request):
    from django.shortcuts import render
    from django.urls import reverse

    return render(request, "api/docs.html", {"schema_url": reverse("test-schema")})


urlpatterns.insert(
    0,
    path(
        "api/v1/test-docs/",
        api_urls.public(api_urls.DOCS)(_test_docs),
        name="test-docs",
    ),
)
