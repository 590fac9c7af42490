"""The portal's foundation (crm_site.portal): the section registry, the hooks, the
owner session and owner_required."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from crm_site import portal
from crm_site.permissions import Kind, access_of
from customers.views import portal as portal_views
from tests.portal_fixtures import owner_client_for

pytestmark = pytest.mark.django_db


def test_owner_required_marks_the_view_as_an_owner_page():
    assert access_of(portal_views.home).kind == Kind.OWNER


def test_the_household_is_the_buyer_and_the_co_buyers(owner_household):
    ids = portal.household_ids(owner_household.buyer)
    assert ids == {owner_household.buyer.pk, owner_household.co_buyer.pk}
    assert portal.household_ids(owner_household.co_buyer) == ids


def test_buyers_from_subscription_and_co_buyers_are_eligible(
    owner_household, own_customer
):
    assert portal.eligible_ids(
        [owner_household.buyer.pk, owner_household.co_buyer.pk, own_customer.pk]
    ) == {owner_household.buyer.pk, owner_household.co_buyer.pk}


def test_the_home_page_greets_the_owner_with_the_registered_sections(
    owner_client, owner_household
):
    response = owner_client.get(reverse("portal:home"))
    assert response.status_code == 200
    assert "周业主" in response.content.decode()
    assert response.context["request"].household_ids
    ctx = portal.OwnerContext(
        owner_household.buyer, response.context["request"].household_ids
    )
    for section in portal.sections():
        # A section for some owners only (online selection: entry holders) is
        # drawn exactly when it says it is shown.
        shown = section.shown is None or section.shown(ctx)
        assert (section.url in response.content.decode()) == shown


def test_the_co_buyer_signs_in_to_the_same_household(owner_household):
    client = owner_client_for(owner_household.co_buyer)
    response = client.get(reverse("portal:home"))
    assert response.status_code == 200
    assert response.wsgi_request.household_ids == portal.household_ids(
        owner_household.buyer
    )


def test_without_an_owner_session_the_portal_sends_to_sign_in(client):
    response = client.get(reverse("portal:home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:sign-in"))


def test_a_staff_login_is_no_owner_session(client, consultant, owner):
    client.force_login(consultant)
    response = client.get(reverse("portal:home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:sign-in"))


def test_an_owner_session_is_no_staff_login(owner_client):
    response = owner_client.get(reverse("customers:customer-list"))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_the_owner_cookie_is_sent_under_the_portal_path_only(owner):
    client = Client()
    client.post(reverse("portal:sign-in"), {"mobile": "13812340001"})
    morsel = client.cookies[settings.PORTAL_SESSION_COOKIE]
    assert morsel["path"] == settings.PORTAL_PATH
    assert morsel["httponly"]
    assert settings.SESSION_COOKIE_NAME not in client.cookies


def test_an_owner_who_can_no_longer_sign_in_is_signed_out(owner_client, owner):
    from sales.models import Opportunity

    Opportunity.objects.filter(customer=owner).update(stage="lost")
    response = owner_client.get(reverse("portal:home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:sign-in"))


def test_signing_out_ends_the_owner_session(owner_client):
    response = owner_client.post(reverse("portal:sign-out"))
    assert response.status_code == 302
    assert owner_client.get(reverse("portal:home")).status_code == 302


def test_a_section_registered_by_an_app_is_drawn_in_the_navigation(owner_client):
    portal.register(
        "test-section",
        title="测试栏目",
        url_name="portal:home",
        order=999,
        icon="bi-star",
        shown=lambda ctx: ctx.owner.name == "周业主",
    )
    try:
        response = owner_client.get(reverse("portal:home"))
        assert "测试栏目" in response.content.decode()
    finally:
        portal._SECTIONS.pop("test-section")


def test_the_household_is_kept_in_the_session_and_checked_again_after_a_while(
    owner_client, owner, settings
):
    from sales.models import Opportunity

    home = reverse("portal:home")
    assert owner_client.get(home).status_code == 200
    Opportunity.objects.filter(customer=owner).update(stage="lost")
    # Within PORTAL_RECHECK_SECONDS the session's answer holds (no queries to ask)...
    assert owner_client.get(home).status_code == 200
    # ...after it, the apps are asked again and the owner is signed out.
    settings.PORTAL_RECHECK_SECONDS = 0
    assert owner_client.get(home).status_code == 302
    assert owner_client.get(home).status_code == 302


def test_a_page_not_found_in_the_portal_leads_back_to_the_portal(owner_client):
    response = owner_client.get("/portal/sales/homes/999999999/")
    assert response.status_code == 404
    assert f'href="{reverse("portal:home")}"' in response.content.decode()
