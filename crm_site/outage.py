"""A friendly 503 page while PostgreSQL is unreachable.

Rendered without touching the database: no session, no user, no context processors
(they read the database), the language from the cookie or Accept-Language only (the
session lives in the database). Connections are health-checked at the start of each
request (CONN_HEALTH_CHECKS), so the site recovers by itself when PostgreSQL is back.

Two entry points, one response: DatabaseUnavailableMiddleware catches the errors a view
raises; server_error (handler500) catches those raised in other middleware (the
session and the user are loaded there), which Django turns into a 500 before any
outer middleware could see the exception.
"""

from __future__ import annotations

import logging
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.template import loader
from django.utils import translation
from django.views.decorators.csrf import requires_csrf_token

logger = logging.getLogger(__name__)

DATABASE_ERRORS = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 30


def database_unavailable(request: HttpRequest) -> HttpResponse:
    language = translation.get_language_from_request(request)
    with translation.override(language):
        body = loader.render_to_string(
            "503.html", {"retry_after": RETRY_AFTER_SECONDS, "language": language}
        )
    response = HttpResponse(body, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    response["Content-Language"] = language
    return response


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        if isinstance(exception, DATABASE_ERRORS):
            logger.error("database unavailable: %s", exception)
            return database_unavailable(request)
        return None


@requires_csrf_token
def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: the 503 page for a database outage, the plain 500 page otherwise."""
    if isinstance(sys.exc_info()[1], DATABASE_ERRORS):
        return database_unavailable(request)
    return HttpResponseServerError(loader.render_to_string("500.html"))
