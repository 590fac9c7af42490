"""``Cache-Control: no-store`` on every page Django renders.

Pages show personal data (every authenticated page) or are reached by a signed link
(surveys, bookings, sign-ups, unsubscribes); neither may stay in a browser's or a
proxy's cache on a shared office computer. Static files are served by WhiteNoise before
this middleware and keep their long caching. An anonymous response that chose its own
caching keeps it; an authenticated one never does.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers


class PrivateCacheMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        signed_in = bool(user is not None and user.is_authenticated)
        if signed_in or not response.has_header("Cache-Control"):
            add_never_cache_headers(response)
        return response
