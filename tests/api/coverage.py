"""Which operations of the OpenAPI document the test suite exercises.

Every request a test sends through Django's test client (``Client``, DRF's
``APIClient``) to /api/v1/ is recorded with its answer's status. An operation
counts as exercised when some test got a 2xx from it: its happy path is tested.
tests/api/test_schema.py compares that with the operations of the document, so a
resource added without a test fails the suite, whoever adds it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.test import client as test_client

API_PREFIX = "/api/v1/"
METHODS = ("get", "post", "put", "patch", "delete")

#: (METHOD, path, status) of every API request in the session.
HITS: list[tuple[str, str, int]] = []


def _record(original):
    def __call__(self, environ):
        response = original(self, environ)
        path = environ.get("PATH_INFO", "")
        if path.startswith(API_PREFIX):
            HITS.append((environ["REQUEST_METHOD"], path, response.status_code))
        return response

    __call__.__wrapped__ = original
    return __call__


def install() -> None:
    """Record from now on (once per process)."""
    handler = test_client.ClientHandler
    if not hasattr(handler.__call__, "__wrapped__"):
        handler.__call__ = _record(handler.__call__)


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    pattern: re.Pattern

    def __str__(self) -> str:
        return f"{self.method} {self.template}"


def operations(schema: dict) -> list[Operation]:
    found = []
    for template, item in schema.get("paths", {}).items():
        regex = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template.rstrip("/")))
        pattern = re.compile(f"^{regex}/?$")
        for method in METHODS:
            if method in item:
                found.append(Operation(method.upper(), template, pattern))
    return found


def unexercised(
    schema: dict, hits: Iterable[tuple[str, str, int]] | None = None
) -> list[str]:
    """The operations no recorded request answered with a 2xx."""
    ok = {
        (method, path)
        for method, path, status in (HITS if hits is None else hits)
        if 200 <= status < 300
    }
    return [
        str(op)
        for op in operations(schema)
        if not any(m == op.method and op.pattern.match(p) for m, p in ok)
    ]
