"""A fuzz pass over every page and form: bad input is refused, never a 500.

Every URL from the resolver is opened with garbage in its query string (the
filters of its own GET forms, the page number, the usual date filters), and
every form found on those pages is posted with garbage in its fields:
10,000-character strings, control characters, NUL, XSS and SQL-like
payloads, impossible dates and numbers. The run is deterministic: each field
meets each payload once across the rounds (a Latin square), not the whole
cross-product.

The URLs get real ids from tests/security/world.py (one object of every kind).
The pass fails on any server error, and on any response that renders the raw
``<script>alert(1)`` (payloads may be stored as data; pages must escape them).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlencode, urlsplit

import pytest
from django.db import transaction
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from crm_site.models import User
from crm_site.submissions import FIELD, new_token
from tests.security.world import World, build_world

SCRIPT = "<script>alert(1)</script>"
PAYLOADS = [
    SCRIPT,
    '"><img src=x onerror=alert(1)>',
    "' OR 1=1 --",
    "x" * 10_000,
    "\x00",
    "ctl\x01\x02\x0b\x1f\x7f",
    "",
    "-1",
    "1" + "0" * 30,
    "9223372036854775808",
    "99999999999999999999.99",
    "1e400",
    "NaN",
    "-Infinity",
    "9999-12-31",
    "0001-01-01",
    "2026-02-30",
    "275760-09-13T00:00",
    "1900-01-01T25:61",
    "١٢٣",
]
RAW_SCRIPT = "<script>alert(1)"
# Query-string keys every list is tried with, on top of its own filter forms.
COMMON_QUERY_KEYS = ["page", "q", "start", "end", "since", "project", "status"]
# Logging out or in would end the fuzzing session.
NEVER_POSTED = {"/accounts/logout/", "/accounts/login/"}
SKIPPED_NAMES = {"logout"}
# The Django admin is Django's own code.
# The REST API is fuzzed against its own schema (tests/api/test_fuzz_schema.py).
SKIPPED_NAMESPACES = {"admin", "api"}
# The partners' portal answers brokers only.
PORTAL = "/marketing/portal/"
# Cap the forms posted per page: list pages repeat one form per row.
FORMS_PER_PAGE = 6


@dataclass
class Form:
    method: str
    action: str
    multipart: bool
    fields: dict[str, str] = field(default_factory=dict)


class FormParser(HTMLParser):
    """The forms of a page, with each field's default value (what a browser sends)."""

    def __init__(self, page_path: str) -> None:
        super().__init__()
        self.page_path = page_path
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            method = "post" if a.get("hx-post") else a.get("method", "get").lower()
            action = a.get("hx-post") or a.get("hx-get") or a.get("action") or ""
            self._form = Form(
                method=method,
                action=action or self.page_path,
                multipart="multipart" in a.get("enctype", ""),
            )
            self.forms.append(self._form)
        if self._form is None or not a.get("name"):
            return
        name = a["name"]
        if name == "csrfmiddlewaretoken":
            return
        if tag == "input":
            kind = a.get("type", "text")
            if kind in ("file", "submit", "button", "image", "reset"):
                return
            if kind in ("checkbox", "radio"):
                if name not in self._form.fields or "checked" in a:
                    self._form.fields[name] = a.get("value", "on")
                return
            default = {
                "date": "2026-01-15",
                "datetime-local": "2026-01-15T10:00",
                "number": "1",
                "email": "a@example.com",
                "tel": "13800138000",
            }.get(kind, "x")
            self._form.fields[name] = a.get("value") or default
        elif tag == "select":
            self._select = name
            self._form.fields.setdefault(name, "")
        elif tag == "option" and self._select:
            if not self._form.fields[self._select] or "selected" in a:
                self._form.fields[self._select] = a.get("value", "")
        elif tag == "textarea":
            self._textarea = name
            self._form.fields[name] = "x"

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    """The shared world and a superuser who may open every page, rolled back after."""
    media = tmp_path_factory.mktemp("media")
    with (
        override_settings(
            MEDIA_ROOT=media,
            SMS_BACKEND="crm_site.messaging.LocMemSmsBackend",
            EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        ),
        django_db_blocker.unblock(),
        transaction.atomic(),
    ):
        world = build_world()
        world.users["fuzz_root"] = User.objects.create_superuser("fuzz-root")
        yield world
        transaction.set_rollback(True)


@dataclass(frozen=True)
class Target:
    name: str
    path: str


def _walk(entries: list, namespace: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in entries:
        if isinstance(entry, URLResolver):
            if entry.namespace in SKIPPED_NAMESPACES:
                continue
            inner = entry.namespace or ""
            prefix = f"{namespace}{inner}:" if inner else namespace
            yield from _walk(entry.url_patterns, prefix)
        elif entry.name:
            yield f"{namespace}{entry.name}", entry


def targets(world: World) -> list[Target]:
    """Every named URL pattern, reversed with the world's (near-side) ids."""
    found = []
    for name, pattern in _walk(get_resolver().url_patterns):
        kwargs = world.kwargs_for(name, list(pattern.pattern.converters))
        found.append(Target(name=name, path=reverse(name, kwargs=kwargs)))
    return found


class Run:
    def __init__(self, clients: dict[str, Client]) -> None:
        self.clients = clients
        self.failures: list[str] = []
        self.requests = 0
        # Where successful posts landed (new objects' pages), visited at the end.
        self.landed: set[str] = set()

    def _check(self, label: str, send) -> object | None:
        self.requests += 1
        try:
            # A savepoint per request: what it stored stays (the pages below
            # render it), a database error does not break the requests after it.
            with transaction.atomic():
                response = send()
        except Exception as exc:  # noqa: BLE001 - every error is a finding
            self.failures.append(f"{label}: {type(exc).__name__}: {exc!s:.200}")
            return None
        if response.status_code >= 500 and not label.startswith("GET /health/ "):
            self.failures.append(f"{label}: HTTP {response.status_code}")
        if RAW_SCRIPT.encode() in getattr(response, "content", b""):
            self.failures.append(f"{label}: raw {RAW_SCRIPT!r} in the page")
        return response

    def client_for(self, path: str) -> Client:
        return self.clients["broker" if path.startswith(PORTAL) else "root"]

    def get(self, path: str, query: dict | None = None):
        query = query or {}
        return self._check(
            f"GET {path} {sorted(query)}",
            lambda: self.client_for(path).get(path, query),
        )

    def post(self, path: str, data: dict, *, multipart: bool = False):
        client = self.client_for(path)
        label = f"POST {path} {sorted(data)}"
        if multipart:
            response = self._check(label, lambda: client.post(path, data))
        else:
            response = self._check(
                label,
                lambda: client.post(
                    path,
                    urlencode(data, doseq=True),
                    content_type="application/x-www-form-urlencoded",
                ),
            )
        if response is not None and response.status_code == 302:
            target = _local(response["Location"])
            if target and not target.startswith("/accounts/"):
                self.landed.add(target)
        return response


def _rounds(keys: list[str], *, step: int = 1) -> list[dict[str, str]]:
    """Each key meets each payload once (every ``step``-th payload when the page
    has no filters of its own); in each round half the keys are left out."""
    rounds = []
    for r in range(0, len(PAYLOADS), step):
        rounds.append(
            {
                key: PAYLOADS[(r + j) % len(PAYLOADS)]
                for j, key in enumerate(keys)
                if (r + j) % 2 == 0 or len(keys) == 1
            }
        )
    return rounds


def _fuzzed_form(fields: dict[str, str], r: int) -> dict[str, str]:
    data = dict(fields)
    for j, name in enumerate(sorted(set(fields) - {FIELD})):
        if (r + j) % 2 == 0:
            data[name] = PAYLOADS[(r + j) % len(PAYLOADS)]
    if FIELD in data:
        # A fresh one-time token per send, or every send after the first would
        # be answered as a replay without running the view.
        data[FIELD] = new_token()
    return data


def _local(action: str) -> str | None:
    parts = urlsplit(action)
    if parts.netloc or not parts.path.startswith("/"):
        return None
    return parts.path


def _forms(path: str, response) -> list[Form]:
    if "text/html" not in response.get("Content-Type", ""):
        return []
    parser = FormParser(path)
    parser.feed(response.content.decode())
    return parser.forms


@pytest.mark.django_db
def test_fuzzing_every_page_and_form_gives_no_server_error_and_no_raw_script(world):
    clients = {}
    for name, user in (
        ("root", world.user("fuzz_root")),
        ("broker", world.user("broker")),
    ):
        clients[name] = Client(raise_request_exception=True)
        clients[name].force_login(user)
    run = Run(clients)
    pages, post_only = {}, []
    for target in targets(world):
        if target.name in SKIPPED_NAMES:
            continue
        response = run.get(target.path)
        if response is not None and response.status_code == 200:
            pages[target.path] = response
        elif response is not None and response.status_code == 405:
            post_only.append(target.path)

    # Post garbage to every form first, so the pages below render what was stored.
    posted: set[str] = set()
    vocabulary: dict[str, str] = {}
    for path, response in pages.items():
        for form in _forms(path, response)[:FORMS_PER_PAGE]:
            action = _local(form.action)
            if form.method != "post" or action is None or action in NEVER_POSTED:
                continue
            vocabulary.update(form.fields)
            if action in posted:
                continue
            posted.add(action)
            for r in range(len(PAYLOADS)):
                run.post(action, _fuzzed_form(form.fields, r), multipart=form.multipart)
    # Actions whose form the world's pages do not show (another state, another
    # role): the field names of every form seen, with garbage.
    vocabulary.pop("csrfmiddlewaretoken", None)
    for path in post_only:
        if path not in posted and path not in NEVER_POSTED:
            for r in range(0, len(PAYLOADS), 2):
                run.post(path, _fuzzed_form(vocabulary, r))

    for path, response in pages.items():
        filters = set(
            itertools.chain.from_iterable(
                f.fields for f in _forms(path, response) if f.method == "get"
            )
        )
        keys = sorted(filters | set(COMMON_QUERY_KEYS))
        for query in _rounds(keys, step=1 if filters else 3):
            run.get(path, query)
        run.get(path, {"page": str(10**30)})

    for path in sorted(run.landed - set(pages)):
        run.get(path)

    assert len(pages) > 60 and run.requests > 1500
    assert not run.failures, f"{len(run.failures)} failures:\n" + "\n".join(
        run.failures[:80]
    )
