"""The owners' portal, walked as owners: every portal URL answers its own household,
refuses (404) every object of another household, and shows nothing of it; an owner
session opens no staff page, and a staff session no portal page.

The world (tests/security/world.py) holds two portal households: ``portal_owner``
(near) and its far counterpart, each with a deal, a co-buyer, payments, a handover
appointment, an inspection and a survey."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from crm_site.permissions import Kind, access_of
from tests.portal_fixtures import owner_client_for
from tests.security import test_crawl
from tests.security.test_crawl import (
    _is_login_redirect,
    _is_portal_sign_in_redirect,
    _request,
    walk,
)

pytestmark = pytest.mark.django_db

# The crawl's module-wide world, built again for this module.
world = test_crawl.world

#: Tables an owner's GET may write: its own session.
OWNER_SESSION_TABLES = {"crm_site_portalsession", "django_session"}


def _owner_routes():
    return [
        r
        for r in walk()
        if (access := access_of(r.callback, r.namespace)) is not None
        and access.kind == Kind.OWNER
    ]


def _staff_routes():
    return [
        r
        for r in walk()
        if (access := access_of(r.callback, r.namespace)) is not None
        and access.kind in (Kind.SEE, Kind.ACTION, Kind.SELF_SERVICE)
    ]


class Owner:
    """A signed-in owner whose cookie is put back before each request (signing
    out, crawled like any page, clears it)."""

    def __init__(self, customer) -> None:
        self.client: Client = owner_client_for(customer)
        self.key = self.client.cookies[settings.PORTAL_SESSION_COOKIE].value

    def __call__(self, method: str, url: str):
        self.client.cookies[settings.PORTAL_SESSION_COOKIE] = self.key
        return _request(self.client, method, url)


def _url(world, route, *, far: bool = False) -> str:
    return reverse(
        route.name, kwargs=world.kwargs_for(route.name, route.kwarg_names, far=far)
    )


def test_the_portal_has_pages_for_owners():
    names = {r.name for r in _owner_routes()}
    assert {"portal:home", "portal:sign-out"} <= names


def test_every_portal_page_answers_its_owner_and_a_get_changes_nothing(world):
    owner = Owner(world.obj("portal_owner"))
    failures = []
    for route in _owner_routes():
        url = _url(world, route)
        for method in ("get", "post"):
            response, written, _changed = owner(method, url)
            where = f"{route.name} {method.upper()}"
            if isinstance(response, Exception):
                failures.append(f"{where}: raised {response!r}")
                continue
            status = response.status_code
            if (
                status >= 500
                or status in (403, 404)
                or (
                    method == "get"
                    and status != 200
                    and route.name != "portal:sign-out"
                )
            ):
                failures.append(f"{where}: {status}")
            signing_out = (route.name, method) == ("portal:sign-out", "post")
            if _is_portal_sign_in_redirect(response) and not signing_out:
                failures.append(f"{where}: sent to sign in")
            if method == "get" and set(written) - OWNER_SESSION_TABLES:
                failures.append(f"{where} wrote {sorted(written)}")
    assert not failures, "\n".join(failures)


def test_no_owner_reaches_an_object_of_another_household(world):
    """Every portal URL with an id, given the other household's id: 404, both ways,
    GET and POST."""
    failures = []
    checked = 0
    for me_far in (False, True):
        owner = Owner(world.obj("portal_owner", far=me_far))
        for route in _owner_routes():
            if not world.has_far(route.name):
                continue
            url = _url(world, route, far=not me_far)
            for method in ("get", "post"):
                response, _written, _changed = owner(method, url)
                checked += 1
                if isinstance(response, Exception):
                    failures.append(f"{route.name} {method}: raised {response!r}")
                elif response.status_code not in (404, 405):
                    failures.append(
                        f"{route.name} {method.upper()} other household: "
                        f"{response.status_code}"
                    )
    assert not failures, "\n".join(failures)
    assert checked >= 2


def _identifiers(world, *, far: bool) -> list[str]:
    """Text that would show another household's objects on a page."""
    unit = world.obj("portal_unit", far=far)
    project = unit.building.project
    return [
        world.obj("portal_owner", far=far).name,
        world.obj("portal_co_buyer", far=far).name,
        project.name,
    ]


def test_no_portal_page_shows_anything_of_another_household(world):
    """Lists and pages of the near owner name nothing of the far household (and the
    near household's own names do appear somewhere, so the check can fail)."""
    owner = Owner(world.obj("portal_owner"))
    theirs = _identifiers(world, far=True)
    mine = _identifiers(world, far=False)
    seen_mine = set()
    failures = []
    for route in _owner_routes():
        response, _written, _changed = owner("get", _url(world, route))
        if isinstance(response, Exception) or response.status_code != 200:
            continue
        if response.streaming:  # a photo or a file: no page text to search
            continue
        text = response.content.decode()
        failures += [f"{route.name} shows {t}" for t in theirs if t in text]
        seen_mine |= {t for t in mine if t in text}
    assert not failures, "\n".join(failures)
    assert seen_mine == set(mine)


def test_an_owner_session_opens_no_staff_page(world):
    owner = Owner(world.obj("portal_owner"))
    failures = []
    for route in _staff_routes():
        if route.name == "logout":
            continue
        response, _written, _changed = owner("get", _url(world, route))
        if isinstance(response, Exception):
            failures.append(f"{route.name}: raised {response!r}")
        elif not _is_login_redirect(response):
            failures.append(f"{route.name}: {response.status_code}")
    assert not failures, "\n".join(failures)


def test_a_staff_session_opens_no_portal_page_even_as_the_owner_cookie(world):
    client = Client()
    client.force_login(world.user("executive"))
    staff_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    client.cookies[settings.PORTAL_SESSION_COOKIE] = staff_key
    for route in _owner_routes():
        response, _written, _changed = _request(client, "get", _url(world, route))
        assert _is_portal_sign_in_redirect(response), route.name
