"""Lanes: requests answered in the page server's WSGI callable, before Django's
request handling, where a flood of one kind of request would otherwise queue behind
its middleware chain (the choice of opening day's rush, sales.opening_lane).

A lane is a function of the WSGI environ that returns an HttpResponse, or None to
leave the request to Django; settings.WSGI_LANES names them. A lane answers only
what the view would answer, after the same checks; when in doubt it returns None.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpResponse
from django.utils.module_loading import import_string

Lane = Callable[[dict], HttpResponse | None]


class Lanes:
    def __init__(self, django: WSGIHandler, lanes: Iterable[Lane]) -> None:
        self.django = django
        self.lanes = list(lanes)

    def __call__(self, environ: dict, start_response) -> Iterable[bytes]:
        for lane in self.lanes:
            response = lane(environ)
            if response is not None:
                status = f"{response.status_code} {response.reason_phrase}"
                headers = [
                    *response.items(),
                    *(
                        ("Set-Cookie", cookie.output(header=""))
                        for cookie in response.cookies.values()
                    ),
                ]
                start_response(status, headers)
                return [response.content]
        return self.django(environ, start_response)


def wrap(django: WSGIHandler) -> WSGIHandler | Lanes:
    names = getattr(settings, "WSGI_LANES", [])
    return Lanes(django, [import_string(name) for name in names]) if names else django
