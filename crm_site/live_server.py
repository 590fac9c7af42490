"""The event-stream server: the CRM's server-sent event streams, apart from its pages.

scripts/run.sh starts it next to the page server, on a port of its own
(``LIVE_PORT``, the page port + 1 by default), as one gunicorn process with the
``asgi`` worker:

    gunicorn crm_site.live_server:application -k asgi --bind 127.0.0.1:8001

and tells the pages where it is (``LIVE_EVENTS_URL``), so a screen's or a phone's
(re)connect never waits in the page server's accept queue behind two thousand buyers
choosing, and an open stream costs no Redis or database connection of its own and
no thread that runs (crm_site.live): it waits on the event loop. (Django's ASGI
handler keeps a thread for each request's synchronous code until its answer ends,
so each open stream has one asleep; its database connection is closed.) Behind a reverse proxy the same split is a path rule: send
``…/events/`` and ``…/live/`` to this server and leave ``LIVE_EVENTS_URL`` empty.

It answers only views marked ``crm_site.live.live_view`` (everything else: 404), runs
them through Django's whole middleware chain (sessions, the owner portal's session,
permissions), and lets the pages' origins (``LIVE_PAGE_ORIGINS``) read the stream
with their cookies (CORS with credentials).
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_site.settings")

django_application = get_asgi_application()

from django.conf import settings  # noqa: E402 - after Django is set up
from django.urls import Resolver404, resolve  # noqa: E402


def _is_live(path: str) -> bool:
    try:
        match = resolve(path)
    except Resolver404:
        return False
    return getattr(match.func, "live_view", False)


def _origin(scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"origin":
            return value.decode("latin-1")
    return ""


def _cors_headers(origin: str) -> list[tuple[bytes, bytes]]:
    if not origin or origin not in settings.LIVE_PAGE_ORIGINS:
        return []
    return [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-allow-credentials", b"true"),
        (b"vary", b"Origin"),
    ]


async def _answer(send, status: int, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


async def application(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http" or not _is_live(scope["path"]):
        await _answer(send, 404, [(b"content-type", b"text/plain")])
        return
    cors = _cors_headers(_origin(scope))
    if scope["method"] == "OPTIONS":
        # A preflight: a reconnect may carry Last-Event-ID.
        await _answer(
            send,
            204,
            [
                *cors,
                (b"access-control-allow-methods", b"GET"),
                (b"access-control-allow-headers", b"Last-Event-ID, Cache-Control"),
                (b"access-control-max-age", b"600"),
            ],
        )
        return

    async def send_with_cors(message) -> None:
        if message["type"] == "http.response.start" and cors:
            message = {**message, "headers": [*message.get("headers", []), *cors]}
        await send(message)

    await django_application(scope, receive, send_with_cors)
