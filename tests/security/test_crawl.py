"""Every URL pattern × every role, GET and POST, against one world of real objects.

The crawl walks the resolver (every namespace), so a view added without a declaration
(crm_site.permissions) fails here, and so does a role that acts without its action
permission, reaches another team's or partner's object, or changes a row while it is
read-only. What each role may see and do is ROLE_PERMISSIONS (crm_site.roles), the
matrix the README's role table is rendered from (test_role_table.py).

Each request runs in a savepoint that is rolled back, so every request meets the same
world and one role's action cannot hide another's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.db import connection, transaction
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from crm_site.permissions import Kind, access_of, has_access
from crm_site.roles import READ_ONLY_ROLES, Role
from tests.security.world import FAR_VISIBLE_TO, PERSONAS, World, build_world

# The databases are set up for tests marked so; the world itself is module-wide.
pytestmark = pytest.mark.django_db

#: Tables a read-only role may change, each with the reason.
UNFINGERPRINTED = {
    "django_session": "the login session itself",
    "crm_site_notification": "a user's own notifications (self-service: mark read)",
    "customers_savedfilter": "a user's own saved filters (self-service)",
    "customers_exportrecord": "read audit: who exported what",
    "crm_site_auditentry": "audit rows; 'reveal' entries are read audits",
    "django_admin_log": "the admin's own log",
    "axes_accesslog": "django-axes' log of log-ins and log-outs (the session's own)",
}
#: Marketing's own records: the marketer may change these and nothing else.
MARKETING_OWN_PREFIXES = ("marketing_",)

#: Personas walked for every URL; the mirror personas (other_consultant,
#: far_consultant) only for the far-side scope checks.
CRAWLED = [
    "consultant",
    "sales_manager",
    "service_agent",
    "service_manager",
    "marketer",
    "executive",
    "administrator",
    "broker",
    "outsider",
    "anonymous",
]
FAR_CHECKED = [
    "consultant",
    "other_consultant",
    "sales_manager",
    "service_agent",
    "service_manager",
    "marketer",
    "broker",
    "outsider",
]
READ_ONLY_PERSONAS = {
    name for name, role in PERSONAS.items() if role in READ_ONLY_ROLES
} | {"outsider", "marketer"}

REFUSED = {403, 404, 405}
#: An API view called without a key (a staff session or nothing): 401 problem.
API_REFUSED = {401, 403}
#: Server errors that are the answer, not a fault: (URL name, status).
EXPECTED_ERRORS = {
    # No worker or beat runs in tests, so the health page says so.
    ("health", 503),
}


@dataclass(frozen=True)
class Route:
    name: str
    namespace: str
    route: str
    callback: object
    kwarg_names: list[str]


def walk(
    patterns: list | None = None, namespace: str = "", prefix: str = ""
) -> Iterator[Route]:
    """Every URL pattern of the project, with its namespaced name."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = namespace
            if entry.namespace:
                inner = (
                    f"{namespace}:{entry.namespace}" if namespace else entry.namespace
                )
            yield from walk(entry.url_patterns, inner, route)
        elif isinstance(entry, URLPattern):
            converters = getattr(entry.pattern, "converters", {})
            names = list(converters) or list(entry.pattern.regex.groupindex)
            full = (
                f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            )
            yield Route(full or "", namespace, route, entry.callback, names)


def _is_admin(route: Route) -> bool:
    access = access_of(route.callback, route.namespace)
    return access is not None and access.kind == Kind.ADMIN


def fingerprint(exclude_prefixes: tuple[str, ...] = ()) -> dict[str, str]:
    """One md5 per table of the rows' text: equal fingerprints, unchanged rows."""
    tables = [
        t
        for t in connection.introspection.table_names(include_views=False)
        if t not in UNFINGERPRINTED and not t.startswith(exclude_prefixes)
    ]
    sql = " UNION ALL ".join(
        f"SELECT '{t}', md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), ''))"
        f' FROM "{t}" x'
        for t in tables
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return dict(cursor.fetchall())


def _changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(t for t in before if before[t] != after.get(t))


def _is_portal_sign_in_redirect(response) -> bool:
    return response.status_code == 302 and response.get("Location", "").startswith(
        reverse("portal:sign-in")
    )


def _is_login_redirect(response) -> bool:
    return response.status_code == 302 and "/accounts/login/" in response.get(
        "Location", ""
    )


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[World]:
    """One world for the whole module, rolled back at its end: every request runs
    in its own rolled-back savepoint, so no test sees another's changes."""
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
        yield build_world()
        transaction.set_rollback(True)


def _clients(world: World, names: list[str]) -> dict[str, Client]:
    clients = {}
    for name in names:
        client = Client(raise_request_exception=True)
        user = world.user(name)
        if user is not None:
            client.force_login(user)
        clients[name] = client
    return clients


class Writes:
    """The tables a request wrote to, from the SQL it ran (cheap, every request)."""

    def __init__(self) -> None:
        self.tables: set[str] = set()

    def __call__(self, execute, sql, params, many, context):
        match = WRITE.match(sql)
        if match:
            self.tables.add(match.group(1))
        return execute(sql, params, many, context)


WRITE = re.compile(r'\s*(?:INSERT INTO|UPDATE|DELETE FROM)\s+"?(\w+)"?', re.IGNORECASE)
_BASELINES: dict[tuple, dict[str, str]] = {}


def _request(client: Client, method: str, url: str, *, track: tuple | None = None):
    """One request in a rolled-back savepoint. Returns the response (or the exception
    it raised), the tables it wrote to, and with track (prefixes of tables the role
    may change), the tables whose rows differ from the world's afterwards."""
    changed: list[str] = []
    writes = Writes()
    with transaction.atomic():
        try:
            with connection.execute_wrapper(writes):
                response = getattr(client, method)(url)
        except Exception as exc:  # noqa: BLE001 - a server error is a finding
            transaction.set_rollback(True)
            return exc, writes.tables, changed
        written = {t for t in writes.tables if t not in UNFINGERPRINTED}
        if track is not None and written:
            # Every request meets the same world (all roll back): one baseline.
            baseline = _BASELINES[track]
            changed = _changed(baseline, fingerprint(track))
        transaction.set_rollback(True)
    return response, written, changed


def _post_proves_nothing(access, persona: str, allowed: bool, user) -> bool:
    """POSTs whose outcome the GET (or another persona's POST) already proved, skipped
    to keep the crawl fast; every read-only persona still POSTs where it may act."""
    if allowed:
        # The fuzz pass posts forms for roles that may act.
        return persona not in READ_ONLY_PERSONAS
    if access.kind == Kind.SEE:
        # see_required answers 405 before it looks at the user: two personas suffice.
        return persona not in ("executive", "anonymous")
    if user is None:
        return False
    # Refused by the same permission on GET: the decorator refuses POST alike, before
    # the view runs (read-only personas POST anyway, for the row check).
    same = access.permission_for("GET") == access.permission_for("POST")
    return same and persona not in READ_ONLY_PERSONAS


def test_every_url_pattern_declares_what_its_view_is():
    unclassified = [
        f"{r.name or r.route} ({getattr(r.callback, '__module__', '?')})"
        for r in walk()
        if access_of(r.callback, r.namespace) is None
    ]
    assert unclassified == []


def test_every_url_pattern_is_named_and_the_world_has_its_ids(world):
    missing = []
    for route in walk():
        if _is_admin(route):
            continue
        try:
            reverse(route.name, kwargs=world.kwargs_for(route.name, route.kwarg_names))
        except Exception as exc:  # noqa: BLE001
            missing.append(f"{route.name or route.route}: {exc!r}")
    assert missing == []


def test_every_role_gets_exactly_what_its_permissions_allow_on_every_url(world):
    """GET and POST of every URL by every role: the matrix holds, nothing 500s, and
    a read-only role's POST changes no row."""
    clients = _clients(world, CRAWLED)
    _BASELINES.clear()
    for track in ((), MARKETING_OWN_PREFIXES):
        _BASELINES[track] = fingerprint(track)
    failures: list[str] = []
    # Logging out ends the client's session (in the cache too): last.
    for route in sorted(walk(), key=lambda r: r.name == "logout"):
        if _is_admin(route):
            continue
        access = access_of(route.callback, route.namespace)
        url = reverse(
            route.name, kwargs=world.kwargs_for(route.name, route.kwarg_names)
        )
        for persona, client in clients.items():
            user = world.user(persona)
            where = f"{persona} {route.name}"
            for method in ("get", "post"):
                if access.kind == Kind.API:
                    # The API answers an integration's key only: no staff session
                    # (nor none) opens it, and nothing is written.
                    response, written, _changed_tables = _request(client, method, url)
                    if isinstance(response, Exception):
                        failures.append(
                            f"{where} {method.upper()}: raised {response!r}"
                        )
                    elif response.status_code not in API_REFUSED:
                        failures.append(
                            f"{where} {method.upper()} API without a key: "
                            f"{response.status_code}"
                        )
                    elif written:
                        failures.append(f"{where} {method.upper()} wrote {written}")
                    continue
                needed = access.permission_for(method.upper())
                allowed = access.kind == Kind.PUBLIC or (
                    user is not None and (needed is None or has_access(user, needed))
                )
                if method == "post" and _post_proves_nothing(
                    access, persona, allowed, user
                ):
                    continue
                track = None
                # A public view acts for whoever holds its signed link, not for the
                # logged-in role: the guest unsubscribing is not the executive acting.
                if (
                    method == "post"
                    and persona in READ_ONLY_PERSONAS
                    and access.kind != Kind.PUBLIC
                ):
                    track = MARKETING_OWN_PREFIXES if persona == "marketer" else ()
                if access.kind == Kind.OWNER:
                    # Owners' pages: no staff session (nor none) opens them; each
                    # is sent to the portal's sign-in (tests/security/test_portal_crawl.py
                    # walks them as owners).
                    response, written, changed = _request(client, method, url)
                    if isinstance(response, Exception):
                        failures.append(
                            f"{where} {method.upper()}: raised {response!r}"
                        )
                    elif not _is_portal_sign_in_redirect(response):
                        failures.append(
                            f"{where} {method.upper()} owner page: "
                            f"{response.status_code}"
                        )
                    elif written:
                        failures.append(f"{where} {method.upper()} wrote {written}")
                    continue
                response, written, changed = _request(client, method, url, track=track)
                if isinstance(response, Exception):
                    failures.append(f"{where} {method.upper()}: raised {response!r}")
                    continue
                status = response.status_code
                if status >= 500 and (route.name, status) not in EXPECTED_ERRORS:
                    failures.append(f"{where} {method.upper()}: {status}")
                if method == "get" and written:
                    failures.append(f"{where} GET wrote to {sorted(written)}")
                if changed:
                    failures.append(f"{where} POST changed {changed}")
                if user is None and access.kind != Kind.PUBLIC:
                    if not _is_login_redirect(response):
                        failures.append(f"{where} {method.upper()}: {status} anon")
                    continue
                if access.kind == Kind.SEE and method == "post":
                    if status != 405:
                        failures.append(f"{where} POST to a see page: {status}")
                    continue
                if not allowed and status not in REFUSED:
                    failures.append(
                        f"{where} {method.upper()} without {needed}: {status}"
                    )
                if access.kind == Kind.SELF_SERVICE:
                    continue  # open to every user; the view keeps to their own rows
                if allowed and method == "get" and status == 403:
                    failures.append(f"{where} GET with {needed}: 403")
    assert not failures, "\n".join(failures)


def test_no_role_reaches_an_object_outside_its_scope(world):
    """The far side (another team's customer and deal, a customer without consent,
    another partner, another user's own rows) is 404 or 403 to everyone but the
    personas declared to see it."""
    clients = _clients(world, FAR_CHECKED)
    failures = []
    for route in walk():
        if _is_admin(route) or not world.has_far(route.name):
            continue
        if access_of(route.callback, route.namespace).kind == Kind.OWNER:
            continue  # owners' pages: test_portal_crawl.py
        if access_of(route.callback, route.namespace).kind == Kind.API:
            continue  # no session opens the API; keys' scopes: tests/*/test_api*
        far_keys = [key for key in world.far_keys(route.name) if key in FAR_VISIBLE_TO]
        url = reverse(
            route.name,
            kwargs=world.kwargs_for(route.name, route.kwarg_names, far=True),
        )
        for persona, client in clients.items():
            if any(persona in FAR_VISIBLE_TO[key] for key in far_keys):
                continue
            for method in ("get", "post"):
                response, _written, _changed_tables = _request(client, method, url)
                if isinstance(response, Exception):
                    failures.append(f"{persona} {route.name} far: {response!r}")
                elif response.status_code not in REFUSED:
                    failures.append(
                        f"{persona} {method.upper()} {route.name} far: "
                        f"{response.status_code}"
                    )
    assert not failures, "\n".join(failures)


def test_an_api_key_opens_no_page_of_the_site(world):
    """A key (every scope, acting as the administrator) sent as a Bearer header
    is no login: every staff page sends it to the log-in, every owner's page to the
    portal's sign-in, and the admin to its own log-in."""
    from crm_site.api.scopes import Scope
    from tests.api_fixtures import make_key

    failures = []
    with transaction.atomic():
        _key, raw = make_key(world.user("administrator"), *Scope.values)
        client = Client(
            raise_request_exception=True, HTTP_AUTHORIZATION=f"Bearer {raw}"
        )
        for route in walk():
            if _is_admin(route):
                continue
            access = access_of(route.callback, route.namespace)
            if access.kind in (Kind.PUBLIC, Kind.API) or route.name == "logout":
                continue
            url = reverse(
                route.name, kwargs=world.kwargs_for(route.name, route.kwarg_names)
            )
            response, _written, _changed = _request(client, "get", url)
            if isinstance(response, Exception):
                failures.append(f"{route.name}: raised {response!r}")
            elif access.kind == Kind.OWNER:
                if not _is_portal_sign_in_redirect(response):
                    failures.append(f"{route.name}: {response.status_code}")
            elif not _is_login_redirect(response):
                failures.append(f"{route.name}: {response.status_code}")
        response = client.get(reverse("admin:index"))
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
        transaction.set_rollback(True)
    assert not failures, "\n".join(failures)


def test_the_admin_site_answers_only_its_administrators(world):
    clients = _clients(world, CRAWLED)
    for persona, client in clients.items():
        response = client.get(reverse("admin:index"))
        if persona == "administrator":
            assert response.status_code == 200
        else:
            assert response.status_code == 302, persona
            assert "/admin/login/" in response["Location"]


def test_the_read_only_roles_hold_no_action_permission():
    """None but the few declared as their own (the executive answers the owners'
    letters to the general manager)."""
    from crm_site.roles import MARKETING_OWN_ACTIONS, READ_ONLY_OWN_ACTIONS, actions_of

    for role in READ_ONLY_ROLES:
        own = READ_ONLY_OWN_ACTIONS.get(role, frozenset())
        assert set(actions_of(role)) <= own, role
    assert set(actions_of(Role.MARKETING)) <= MARKETING_OWN_ACTIONS
