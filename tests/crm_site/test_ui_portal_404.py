"""A page not found under the owners' portal (settings.PORTAL_PATH) in the portal's
own look, with its tab bar and sign-out for a signed-in owner; the staff 404 page
elsewhere (crm_site.views.page_not_found)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

STAFF_BRAND = "安居 CRM"


def _names(response) -> list[str]:
    return [t.name for t in response.templates]


def test_a_missing_request_in_the_portal_shows_the_portal_404_with_tabs_and_sign_out(
    owner_client,
):
    response = owner_client.get(
        reverse("service_portal:request-detail", args=[999999999])
    )
    body = response.content.decode()
    assert response.status_code == 404
    assert "portal/404.html" in _names(response)
    assert "portal/base.html" in _names(response)
    assert "base.html" not in _names(response)
    assert STAFF_BRAND not in body
    assert 'data-testid="portal-tabs"' in body
    assert 'data-testid="portal-sign-out"' in body
    assert f'href="{reverse("portal:home")}"' in body
    assert "页面不存在" in body


def test_an_unknown_portal_path_shows_the_owner_the_portal_404_with_tabs(
    owner_client,
):
    response = owner_client.get(f"{settings.PORTAL_PATH}no-such-page/")
    body = response.content.decode()
    assert response.status_code == 404
    assert "portal/404.html" in _names(response)
    assert STAFF_BRAND not in body
    assert 'data-testid="portal-tabs"' in body
    assert 'data-testid="portal-sign-out"' in body


def test_an_unknown_portal_path_shows_nobody_the_portal_404_without_sign_out():
    response = Client().get(f"{settings.PORTAL_PATH}service/no-such-page/")
    body = response.content.decode()
    assert response.status_code == 404
    assert "portal/404.html" in _names(response)
    assert STAFF_BRAND not in body
    assert 'data-testid="portal-sign-out"' not in body
    assert 'data-testid="portal-tabs"' not in body
    assert f'href="{reverse("portal:home")}"' in body


def test_a_stale_owner_cookie_on_an_unknown_portal_path_is_still_a_404():
    client = Client()
    client.cookies[settings.PORTAL_SESSION_COOKIE] = "no-such-session-key"
    response = client.get(f"{settings.PORTAL_PATH}no-such-page/")
    assert response.status_code == 404
    assert "portal/404.html" in _names(response)
    assert 'data-testid="portal-sign-out"' not in response.content.decode()


def test_an_owner_of_a_lost_deal_sees_the_portal_404_as_nobody(
    owner, owner_client, settings
):
    from sales.models import Opportunity

    Opportunity.objects.filter(customer=owner).update(stage="lost")
    settings.PORTAL_RECHECK_SECONDS = 0
    response = owner_client.get(f"{settings.PORTAL_PATH}no-such-page/")
    body = response.content.decode()
    assert response.status_code == 404
    assert "portal/404.html" in _names(response)
    assert 'data-testid="portal-tabs"' not in body
    assert 'data-testid="portal-sign-out"' not in body


def test_a_staff_404_keeps_the_staff_page(client, consultant):
    client.force_login(consultant)
    response = client.get(reverse("customers:customer-detail", args=[999999999]))
    body = response.content.decode()
    assert response.status_code == 404
    assert "404.html" in _names(response)
    assert "portal/404.html" not in _names(response)
    assert STAFF_BRAND in body
    assert f'href="{reverse("home")}"' in body
