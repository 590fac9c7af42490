"""An attacker's review of the owners' portal (5 Dec, fourth round): what
tests/security/test_portal_crawl.py and test_portal_household_reach.py did not
cover, each finding confirmed here before it was mended."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.urls import reverse

from crm_site import messaging
from customers.services import portal as sign_in

pytestmark = pytest.mark.django_db

# Digits not next to other digits: in Chinese the code follows 为 with no word break.
CODE = re.compile(r"(?<!\d)(\d{6})(?!\d)")


@pytest.fixture(autouse=True)
def _sms_kept_in_memory():
    messaging.sms_outbox.clear()
    with override_settings(SMS_BACKEND="crm_site.messaging.LocMemSmsBackend"):
        yield
    messaging.sms_outbox.clear()


def _deliver() -> str:
    sign_in.portal_codes_send_pending()
    return CODE.search(messaging.sms_outbox[-1].text).group(1)


def _csrf(client: Client) -> str:
    return client.cookies[settings.CSRF_COOKIE_NAME].value


# Signing in ---------------------------------------------------------------------------


def test_signing_in_to_the_portal_gives_a_new_csrf_token(owner):
    """As Django's own login does (rotate_token): a CSRF token planted in the
    owner's browser before they sign in (a shared phone, a sibling sub-domain's
    cookie) must not forge their requests once they are signed in."""
    client = Client(enforce_csrf_checks=True)
    client.get(reverse("portal:sign-in"))
    planted = _csrf(client)
    client.post(
        reverse("portal:sign-in"),
        {"mobile": "13812340001", "csrfmiddlewaretoken": planted},
    )
    response = client.post(
        reverse("portal:sign-in-code"),
        {"code": _deliver(), "csrfmiddlewaretoken": planted},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:home")
    assert _csrf(client) != planted
    # The planted token no longer passes with the new cookie.
    attacker = client.post(reverse("portal:sign-out"), {"csrfmiddlewaretoken": planted})
    assert attacker.status_code == 403


def _signed_in(mobile: str = "13812340001", *, remember: bool = False) -> Client:
    """An owner's phone signed in through the pages, with the code from the SMS."""
    client = Client()
    client.post(reverse("portal:sign-in"), {"mobile": mobile})
    data = {"code": _deliver()}
    if remember:
        data["remember"] = "on"
    response = client.post(reverse("portal:sign-in-code"), data)
    assert response["Location"] == reverse("portal:home")
    return client


def test_a_new_mobile_number_ends_the_sessions_signed_in_with_the_old_one(
    owner, consultant
):
    """A phone lost or stolen with a remembered portal session: the owner calls the
    desk, which changes their number. The old phone's session (30 days) must end
    then, as a staff password change ends staff sessions: it could otherwise read
    the payments and choose a unit with the deposit on opening day."""
    from customers.services import customer_update

    lost_phone = _signed_in(remember=True)
    assert lost_phone.get(reverse("portal:home")).status_code == 200
    customer_update(actor=consultant, customer=owner, mobile="+8613812347777")
    response = lost_phone.get(reverse("sales_portal:homes"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:sign-in"))
    # The owner signs in again with the new number.
    assert _signed_in("13812347777").get(reverse("portal:home")).status_code == 200


def test_a_session_stays_when_the_number_does_not_change(owner, consultant):
    from customers.services import customer_update

    client = _signed_in()
    customer_update(actor=consultant, customer=owner, name="周业主新")
    assert client.get(reverse("sales_portal:homes")).status_code == 200


# Repairs and complaints -----------------------------------------------------------------


def test_an_owner_cannot_flood_the_desk_with_requests(owner_client, owner_household):
    """Each portal request may carry six photos of 10 MB and lands in every agent's
    queue: a script signed in as an owner (or a stolen phone) sending them without
    end would fill the disk and bury the desk. A day's requests are capped, as a
    day's recommendations are."""
    from service import portal_requests
    from service.models import ServiceRequest

    category = ServiceRequest._meta.get_field("category").choices[0][0]
    household = frozenset({owner_household.buyer.pk, owner_household.co_buyer.pk})
    for n in range(portal_requests.REQUESTS_PER_DAY):
        portal_requests.portal_request_submit(
            owner=owner_household.buyer,
            household_ids=household,
            unit=owner_household.unit,
            kind="repair",
            category=category,
            description=f"漏水 {n}",
        )
    response = owner_client.post(
        reverse("service_portal:request-create"),
        {
            "unit": owner_household.unit.pk,
            "kind": "repair",
            "category": category,
            "description": "又漏水了",
        },
    )
    assert response.status_code == 400
    assert response.context["form"].non_field_errors()
    assert ServiceRequest.objects.count() == portal_requests.REQUESTS_PER_DAY
    # The co-buyer still reports the household's own problem.
    from tests.portal_fixtures import owner_client_for

    co_buyer = owner_client_for(owner_household.co_buyer)
    response = co_buyer.post(
        reverse("service_portal:request-create"),
        {
            "unit": owner_household.unit.pk,
            "kind": "repair",
            "category": category,
            "description": "门锁坏了",
        },
    )
    assert response.status_code == 302
