"""Security headers: a Content Security Policy without inline script on every page,
and no caching of pages with personal data (authenticated or reached by a signed link)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from csp.decorators import csp_update
from csp.exceptions import CSPNonceError
from csp.middleware import CSPMiddleware as DjangoCSP
from django.conf import settings
from django.http import HttpResponse
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse

from crm_site.csp import CSPMiddleware
from marketing import services as marketing_services
from marketing.models import Invitation
from marketing.services.invitations import (
    SIGNUP_SALT,
    UNSUBSCRIBE_SALT,
    public_token,
)
from service import surveys
from service.models import SurveyInvitation
from tests.factories import CustomerFactory
from tests.marketing.conftest import (  # noqa: F401 (fixtures)
    building,
    campaign,
    outboxes,
    project,
    segment,
)
from tests.service.conftest import closed_request

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    parsed = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            parsed[words[0]] = words[1:]
    return parsed


def assert_strict_policy(response) -> None:
    policy = directives(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert set(policy["img-src"]) == {"'self'", "data:"}
    assert set(policy["style-src"]) == {"'self'", "'unsafe-inline'"}


def assert_no_store(response) -> None:
    assert "no-store" in response.get("Cache-Control", ""), response.get(
        "Cache-Control"
    )


def test_login_page_has_the_policy_and_is_not_stored(client, db):
    response = client.get(reverse("login"))
    assert_strict_policy(response)
    assert_no_store(response)


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/customers/",
        "/sales/",
        "/marketing/partners/",
        "/notifications/",
        "/accounts/password/",
    ],
)
def test_authenticated_pages_have_the_policy_and_are_never_stored(
    client, sales_manager, url
):
    client.force_login(sales_manager)
    response = client.get(url, follow=True)
    assert response.status_code == 200
    assert_strict_policy(response)
    assert_no_store(response)


def test_a_customer_page_is_never_stored(client, consultant, own_customer):
    client.force_login(consultant)
    response = client.get(own_customer.get_absolute_url())
    assert response.status_code == 200
    assert_no_store(response)
    assert "private" in response["Cache-Control"]


def test_admin_pages_have_the_policy_and_no_inline_script(client, administrator):
    client.force_login(administrator)
    for url in ("/admin/", "/admin/crm_site/user/", "/admin/axes/accessattempt/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_strict_policy(response)
        assert_no_store(response)
        assert not re.search(
            r"<script(?![^>]*\bsrc=)(?![^>]*application/json)",
            (response.content.decode()),
        ), url


def test_survey_link_page_is_never_stored(client, service_agent, consultant):
    customer = CustomerFactory(assigned_consultant=consultant)
    closed = closed_request(service_agent, customer)
    invitation = SurveyInvitation.objects.get(request=closed)
    response = client.get(
        reverse("service:survey-answer", args=[surveys.survey_token(invitation)])
    )
    assert response.status_code == 200
    assert_strict_policy(response)
    assert_no_store(response)


def test_booking_link_page_is_never_stored(client, db):
    response = client.get(reverse("service:handover-booking", args=["forged"]))
    assert_no_store(response)
    assert_strict_policy(response)


def test_marketing_links_sign_up_unsubscribe_and_qr_are_never_stored(
    client,
    campaign,  # noqa: F811
    marketer,
    outboxes,  # noqa: F811
):
    CustomerFactory(email="a@example.com", consent_email=True, consent_sms=False)
    marketing_services.campaign_move(
        actor=marketer, campaign=campaign, status="running"
    )
    marketing_services.invitations_queue(actor=marketer, campaign=campaign)
    invitation = Invitation.objects.get()
    signup = public_token(invitation, SIGNUP_SALT)
    for url in (
        reverse("marketing:public-signup", args=[signup]),
        reverse("marketing:public-qr", args=[signup]),
        reverse(
            "marketing:unsubscribe",
            args=[public_token(invitation, UNSUBSCRIBE_SALT)],
        ),
        reverse("marketing:unsubscribe", args=["forged"]),
    ):
        response = client.get(url)
        assert response.status_code in (200, 404), url
        assert_no_store(response)
        assert_strict_policy(response)


@override_settings(WHITENOISE_USE_FINDERS=True, WHITENOISE_AUTOREFRESH=True)
def test_static_files_keep_their_caching(db):
    response = Client().get("/static/css/app.css")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")


# No inline script anywhere in the templates ----------------------------------------


def _templates() -> list[Path]:
    # Django templates and the Jinja2 row templates (crm_site/jinja.py).
    return sorted([*TEMPLATES.rglob("*.html"), *TEMPLATES.rglob("*.jinja")])


def test_templates_have_no_inline_script():
    offenders = []
    for path in _templates():
        text = path.read_text()
        for match in re.finditer(r"<script\b[^>]*>", text):
            tag = match.group(0)
            if "src=" not in tag and "application/json" not in tag:
                offenders.append(f"{path.relative_to(TEMPLATES)}: {tag}")
    assert offenders == []


def test_templates_have_no_event_handler_attributes_nor_javascript_urls():
    offenders = []
    pattern = re.compile(r"\s(on[a-z]+|hx-on[:\w-]*)\s*=|javascript:", re.I)
    for path in _templates():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(TEMPLATES)}:{number}")
    assert offenders == []


def test_the_behaviours_script_is_on_every_page_that_needs_it(client, consultant):
    client.force_login(consultant)
    body = client.get("/", follow=True).content.decode()
    assert "js/behaviours.js" in body
    assert "data-autosubmit" in body  # the language switch


# The policy built once per process (crm_site.csp) ------------------------------------


def _response_of(view, path="/customers/"):

    request = RequestFactory().get(path)
    middleware = CSPMiddleware(view)
    middleware.process_request(request)
    return middleware.process_response(request, view(request))


def _plain(request):

    return HttpResponse("ok")


def test_the_memoised_policy_is_django_csps_own():

    request = RequestFactory().get("/customers/")
    theirs = DjangoCSP(_plain)
    theirs.process_request(request)
    expected = theirs.process_response(request, _plain(request))
    for _ in range(2):  # built, then from the memo
        response = _response_of(_plain)
        assert (
            response["Content-Security-Policy"] == expected["Content-Security-Policy"]
        )
        assert "Content-Security-Policy-Report-Only" not in response


def test_a_response_that_changes_its_policy_or_sets_its_own_keeps_it():

    @csp_update({"img-src": ["https://maps.example.com"]})
    def updated(request):
        return HttpResponse("map")

    def sandboxed(request):
        response = HttpResponse("photo")
        response["Content-Security-Policy"] = "sandbox"
        return response

    assert (
        "https://maps.example.com" in _response_of(updated)["Content-Security-Policy"]
    )
    assert (
        "https://maps.example.com"
        not in _response_of(_plain)["Content-Security-Policy"]
    )
    assert _response_of(sandboxed)["Content-Security-Policy"] == "sandbox"


def test_a_nonce_asked_for_gets_its_own_policy_and_none_after_the_header():

    def with_nonce(request):
        with_nonce.nonce = str(request.csp_nonce)
        return HttpResponse("nonce")

    request = RequestFactory().get("/")
    middleware = CSPMiddleware(with_nonce)
    middleware.process_request(request)
    middleware.process_response(request, with_nonce(request))
    request = RequestFactory().get("/")
    middleware.process_request(request)
    middleware.process_response(request, _plain(request))
    with pytest.raises(CSPNonceError):
        str(request.csp_nonce)


def test_a_changed_policy_setting_is_built_again():

    policy = {
        "DIRECTIVES": {
            **settings.CONTENT_SECURITY_POLICY["DIRECTIVES"],
            "img-src": ["'self'"],
        },
        "EXCLUDE_URL_PREFIXES": ["/api/"],
    }
    _response_of(_plain)
    with override_settings(CONTENT_SECURITY_POLICY=policy):
        assert directives(_response_of(_plain))["img-src"] == ["'self'"]
        assert "Content-Security-Policy" not in _response_of(_plain, "/api/v1/x/")
    assert set(directives(_response_of(_plain))["img-src"]) == {"'self'", "data:"}
