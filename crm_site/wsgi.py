"""WSGI entry point (the page server, scripts/page_server.py: crm_site.wsgi:application)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application
from django.http import HttpResponse

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_site.settings")

django_application = get_wsgi_application()

from crm_site import lanes  # noqa: E402 - after Django is set up

# The lanes (crm_site.lanes) answer a few hot requests before Django's handling.
lanes_application = lanes.wrap(django_application)

# What a request's environ may hold of its own (RFC 3875's meta-variables, its
# headers): the rest of a name the process's environment also has came from there.
_REQUEST_KEYS = frozenset(
    {
        "AUTH_TYPE", "CONTENT_LENGTH", "CONTENT_TYPE", "GATEWAY_INTERFACE",
        "PATH_INFO", "PATH_TRANSLATED", "QUERY_STRING", "REMOTE_ADDR", "REMOTE_HOST",
        "REMOTE_PORT", "REMOTE_USER", "REQUEST_METHOD", "SCRIPT_NAME", "SERVER_NAME",
        "SERVER_PORT", "SERVER_PROTOCOL", "SERVER_SOFTWARE",
    }
)  # fmt: skip


def inherited_keys(process_environment) -> tuple[str, ...]:
    """The names of ``process_environment`` that are not a request's own."""
    return tuple(
        key
        for key in process_environment
        if key not in _REQUEST_KEYS and not key.startswith("HTTP_")
    )


def inherited_headers(process_environment) -> dict[str, str]:
    """The process's variables named as a request's headers are (HTTP_PROXY, say,
    with a proxy's password in it), with their values."""
    return {
        key: value
        for key, value in process_environment.items()
        if key.startswith("HTTP_")
    }


_INHERITED = inherited_keys(os.environ)
_INHERITED_HEADERS = inherited_headers(os.environ)


def application(environ: dict, start_response):
    # granian, as CGI servers do, puts its process's environment in every request's
    # environ: the secret keys and DATABASE_URL would reach request.META, and from
    # there any error report or view that shows it. Only the request's own go on.
    for key in _INHERITED:
        environ.pop(key, None)
    # A variable named as a header is the request's own when the request sent that
    # header (its value then replaces the process's), else the process's.
    for key, value in _INHERITED_HEADERS.items():
        if environ.get(key) == value:
            del environ[key]
    response = lanes_application(environ, start_response)
    if isinstance(response, HttpResponse):
        # A whole answer as one piece: granian writes a list at once, where it reads
        # any other iterable a chunk at a time through the interpreter (about 5 %
        # of a page's time in the worker, py-spy). The server then does not close
        # the response, so it is closed here (request_finished: connections, caches).
        try:
            return [response.content]
        finally:
            response.close()
    return response
