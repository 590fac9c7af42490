"""A third party who knows only an owner's mobile cannot lock them out of the portal
(customers.services.portal.portal_sign_in, crm_site.lockout): guessing stays bounded by
the code's own tries and the codes per hour, and the guesser's address is what locks."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from customers.models import PortalCode
from customers.services import portal as sign_in
from tests.customers.test_portal_sign_in import (  # noqa: F401 - the fixture
    OWNER_MOBILE,
    _ask,
    _deliver,
    _sms_kept_in_memory,
)

pytestmark = pytest.mark.django_db


def _code_for_owner(client: Client) -> str:
    _ask(client)
    return _deliver()


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1000000:06d}"


def test_wrong_codes_with_no_live_code_do_not_lock_the_owner_out(owner):
    # A rival, from addresses of their own, types codes for the owner's number while
    # the owner has asked for none.
    for n in range(settings.LOGIN_FAILURE_LIMIT * 2):
        sign_in.portal_sign_in(
            phone=OWNER_MOBILE,
            code="000000",
            remember=False,
            ip_address=f"203.0.113.{n + 1}",
        )
    client = Client()
    code = _code_for_owner(client)
    response = client.post(reverse("portal:sign-in-code"), {"code": code})
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:home")


def test_a_rival_burning_a_code_does_not_lock_the_next_one(owner):
    client = Client()
    code = _code_for_owner(client)
    for n in range(settings.PORTAL_CODE_TRIES):
        result = sign_in.portal_sign_in(
            phone=OWNER_MOBILE,
            code=_wrong(code),
            remember=False,
            ip_address=f"203.0.113.{n + 1}",
        )
        assert result.customer is None
    # The guessed code is burned (its tries are used): even the right one fails now.
    assert (
        sign_in.portal_sign_in(
            phone=OWNER_MOBILE, code=code, remember=False, ip_address="198.51.100.7"
        ).customer
        is None
    )
    PortalCode.objects.update(
        created_at=PortalCode.objects.get().created_at.replace(year=2000)
    )  # past the one-a-minute interval
    code = _code_for_owner(client)
    response = client.post(reverse("portal:sign-in-code"), {"code": code})
    assert response.status_code == 302


def test_the_right_code_signs_in_after_many_wrong_ones_from_elsewhere(owner):
    client = Client()
    code = _code_for_owner(client)
    for n in range(settings.PORTAL_CODE_TRIES - 1):
        sign_in.portal_sign_in(
            phone=OWNER_MOBILE,
            code=_wrong(code),
            remember=False,
            ip_address=f"203.0.113.{n + 1}",
        )
    response = client.post(reverse("portal:sign-in-code"), {"code": code})
    assert response.status_code == 302


def test_guesses_on_a_code_stay_bounded_by_its_tries(owner):
    """The bound that replaces the per-number lock: a code takes at most
    PORTAL_CODE_TRIES guesses, wherever they come from."""
    client = Client()
    code = _code_for_owner(client)
    for n in range(settings.PORTAL_CODE_TRIES * 3):
        sign_in.portal_sign_in(
            phone=OWNER_MOBILE,
            code=_wrong(code),
            remember=False,
            ip_address=f"203.0.113.{n + 1}",
        )
    row = PortalCode.objects.get()
    assert row.failed_attempts == settings.PORTAL_CODE_TRIES
    assert (
        sign_in.portal_sign_in(
            phone=OWNER_MOBILE, code=code, remember=False, ip_address="198.51.100.7"
        ).customer
        is None
    )


def test_a_locked_address_is_still_refused_even_with_the_right_code(owner):
    """Guessing across many numbers from one address stays stopped: the address that
    guessed is the guesser's own."""
    client = Client()
    code = _code_for_owner(client)
    for n in range(settings.LOGIN_ADDRESS_FAILURE_LIMIT):
        sign_in.portal_sign_in(
            phone=f"+86139{n:08d}",
            code="000000",
            remember=False,
            ip_address="127.0.0.1",
        )
    response = client.post(reverse("portal:sign-in-code"), {"code": code})
    assert response.status_code == 429
