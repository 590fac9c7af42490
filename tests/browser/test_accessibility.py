"""axe-core on the main pages of every role: no serious or critical problem.

The pages are those people live in: the login, each role's home, customers, walk-in
registration, My day, the sales grid, deals, the service queue and its requests,
campaigns and the dashboards. One world of data (tests/security/world.py) fills them.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.browser.axe import axe_violations, describe
from tests.browser.conftest import SCREENSHOTS
from tests.security.world import build_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _pages(world) -> dict[str | None, list[str]]:
    """Per persona (None: not logged in), the URLs to check."""
    near = world.obj
    return {
        None: [reverse("login")],
        "consultant": [
            reverse("sales:my-day"),
            reverse("customers:customer-list"),
            near("customer").get_absolute_url(),
            reverse("customers:register"),
            reverse("sales:building-grid", args=[near("building").pk]),
            reverse("sales:opportunity-board"),
            reverse("sales:opportunity-detail", args=[near("deal").pk]),
        ],
        "sales_manager": [
            reverse("home"),
            reverse("sales:dashboard"),
            reverse("sales:opportunity-list"),
        ],
        "service_agent": [
            reverse("service:home"),
            reverse("service:request-list"),
            reverse("service:request-detail", args=[near("service_request").pk]),
            reverse("service:request-create"),
        ],
        "service_manager": [reverse("home"), reverse("service:dashboard")],
        "marketer": [
            reverse("marketing:home"),
            reverse("marketing:campaign-list"),
            reverse("marketing:campaign-detail", args=[near("campaign").pk]),
            reverse("marketing:dashboard"),
        ],
        "executive": [reverse("home")],
    }


def test_the_main_pages_of_every_role_have_no_serious_accessibility_problem(
    browser, live_server
):
    world = build_world()
    problems: list[str] = []
    checked = 0
    for persona, urls in _pages(world).items():
        context = browser.new_context(
            base_url=live_server.url,
            locale="zh-CN",
            viewport={"width": 1280, "height": 860},
        )
        page = context.new_page()
        page.set_default_timeout(10_000)
        csp: list[str] = []
        page.on(
            "console",
            lambda m, csp=csp: (
                csp.append(m.text) if "Content Security Policy" in m.text else None
            ),
        )
        if persona is not None:
            # Logging in through the form is another journey's test: here a session
            # cookie saves a second per role.
            client = Client()
            client.force_login(world.user(persona))
            cookie = client.cookies[settings.SESSION_COOKIE_NAME]
            context.add_cookies(
                [{"name": cookie.key, "value": cookie.value, "url": live_server.url}]
            )
        for url in urls:
            response = page.goto(url)
            assert response is not None and response.ok, (persona, url)
            if persona is not None:
                assert "/accounts/login/" not in page.url, (persona, url)
            page.wait_for_load_state("load")
            found = axe_violations(page)
            checked += 1
            if found:
                problems.append(describe(f"{persona or 'anonymous'} {url}", found))
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                name = url.strip("/").replace("/", "_") or "home"
                page.screenshot(
                    path=str(SCREENSHOTS / f"axe-{persona}-{name}.png"), full_page=True
                )
        context.close()
        assert csp == [], csp
    assert checked >= 20
    assert not problems, "\n\n".join(problems)
