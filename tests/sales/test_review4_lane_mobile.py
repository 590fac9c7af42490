"""A portal session ends when the owner's mobile number changes (crm_site.portal.
same_mobile): the opening day's lane (sales.opening_lane) answers a choice only
when the view would, so a phone signed in with the old number is left to Django,
which signs it out, on every path of the lane and not only when the household is
due for its check."""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse

from crm_site import portal
from customers.services import customer_update
from sales import opening_lane
from sales.models import Selection
from tests.opening_fixtures import enter, make_deposit
from tests.sales.test_opening_lane import (  # noqa: F401 - fixtures
    _keep_the_test_transaction,
    _post,
    lane,
)

pytestmark = pytest.mark.django_db


def _kept(owner) -> str:
    """A phone with the page open: its household checked a moment ago."""
    session = portal.session_for(owner)
    session[portal.HOUSEHOLD_KEY] = sorted(portal.household_ids(owner))
    session[portal.CHECKED_AT_KEY] = time.time()
    session.save()
    return session.session_key


def _signed_out_as_the_view_does(answer, cookie: str) -> None:
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith(reverse("portal:sign-in"))
    assert not portal.SessionStore(cookie).get(portal.OWNER_KEY)
    assert any(
        c.strip().startswith(f"{settings.PORTAL_SESSION_COOKIE}=") and "Max-Age=0" in c
        for c in answer.cookies
    ), answer.cookies


def test_a_phone_with_its_household_kept_is_left_to_django_after_a_new_mobile(
    online,
    consultant,
    lane,  # noqa: F811
):
    _session, units, entry, _rival = online
    owner = entry.deposit.customer
    cookie = _kept(owner)
    customer_update(actor=consultant, customer=owner, mobile="+8613812347777")
    answer = _post(entry.pk, units[2].pk, cookie=cookie)
    assert lane[0] is None
    _signed_out_as_the_view_does(answer, cookie)
    assert not Selection.objects.exists()


def test_an_owner_choosing_for_their_own_entry_is_left_to_django_after_a_new_mobile(
    online,
    consultant,
    lane,  # noqa: F811
):
    """The household is due for its check: the owner's own entry needs none, but
    the number is checked all the same."""
    _session, units, entry, _rival = online
    owner = entry.deposit.customer
    cookie = portal.session_for(owner).session_key  # household never checked
    customer_update(actor=consultant, customer=owner, mobile="+8613812347777")
    answer = _post(entry.pk, units[2].pk, cookie=cookie)
    assert lane[0] is None
    _signed_out_as_the_view_does(answer, cookie)
    assert not Selection.objects.exists()


def test_a_household_member_with_a_new_mobile_is_left_to_django(
    online,
    consultant,
    owner_household,
    lane,  # noqa: F811
):
    session, units, _entry, _rival = online
    buyer, co_buyer = owner_household.buyer, owner_household.co_buyer
    entry = enter(
        session,
        make_deposit(project=session.project, consultant=consultant, customer=buyer),
    )
    cookie = _kept(co_buyer)
    customer_update(actor=consultant, customer=co_buyer, mobile="+8613812347778")
    answer = _post(entry.pk, units[1].pk, cookie=cookie)
    assert lane[0] is None
    _signed_out_as_the_view_does(answer, cookie)
    assert not Selection.objects.exists()


def test_the_lane_still_answers_when_the_number_is_unchanged(
    online,
    consultant,
    lane,  # noqa: F811
):
    """Another change of the owner's record ends no session."""
    _session, units, entry, _rival = online
    owner = entry.deposit.customer
    cookie = _kept(owner)
    customer_update(actor=consultant, customer=owner, name="钱新名")
    answer = _post(entry.pk, units[2].pk, cookie=cookie)
    assert lane[0] is not None and answer.json()["result"] == "chosen"
    assert Selection.objects.get().unit == units[2]


def test_a_session_without_a_mobile_stamp_is_still_answered_by_the_lane(
    online,
    lane,  # noqa: F811
):
    """As same_mobile: a session written before numbers were kept passes."""
    _session, units, entry, _rival = online
    session = portal.SessionStore(_kept(entry.deposit.customer))
    del session[portal.MOBILE_KEY]
    session.save()
    answer = _post(entry.pk, units[2].pk, cookie=session.session_key)
    assert lane[0] is not None and answer.json()["result"] == "chosen"


def test_the_lookup_prepares_beside_a_statement_left_by_the_previous_release(
    online,
):
    """The lookup's SQL changed (it reads the owner's mobile): a server session
    that outlived the previous release's process (a pooler's) may still hold that
    release's statement under its name. The new one is prepared under its own."""
    _session, units, entry, _rival = online
    owner = entry.deposit.customer.pk
    connection.ensure_connection()
    connection._anju_prepared = None  # a new process on that server session
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
        cursor.execute("PREPARE anju_opening_lookup (bigint) AS SELECT $1")
    found = opening_lane._lookup(
        entry.pk, frozenset([owner]), units[0].pk, owner, opening_lane.SHOWN
    )
    assert found is not None and found[0] == entry.session_id
