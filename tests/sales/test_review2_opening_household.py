"""Who may choose with a deposit on the buyer's phone (sales.views_portal_opening,
sales.opening_lane): the deposit's holder and the members of the holder's own CRM
household (Customer.household_id, as the deposit limits count it), not whoever shares
some home with the holder (the portal household)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from customers.models import Customer
from sales.models import Selection
from tests.opening_fixtures import enter, make_deposit
from tests.portal_fixtures import owner_client_for
from tests.sales.test_opening_lane import (  # noqa: F401 - fixtures
    _keep_the_test_transaction,
    _post,
    lane,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def divorced(online, consultant, owner_household):
    """A (buyer) and B (co-buyer) still co-own their old home but are no longer one
    household; B holds a new deposit entered in the open online session."""
    session, units, _entry, _rival = online
    a, b = owner_household.buyer, owner_household.co_buyer
    Customer.objects.filter(pk=b.pk).update(household=None, household_role="")
    b.refresh_from_db()
    entry = enter(
        session,
        make_deposit(project=session.project, consultant=consultant, customer=b),
    )
    return a, b, entry, units


def test_a_co_owner_of_another_household_does_not_see_the_holders_entry(divorced):
    a, _b, entry, units = divorced
    client = owner_client_for(a)
    assert (
        client.get(reverse("sales_portal:opening-session", args=[entry.pk])).status_code
        == 404
    )
    assert (
        client.get(
            reverse("sales_portal:opening-choose", args=[entry.pk, units[0].pk])
        ).status_code
        == 404
    )


def test_a_co_owner_of_another_household_cannot_choose_with_the_holders_deposit(
    divorced,
):
    a, _b, entry, units = divorced
    response = owner_client_for(a).post(
        reverse("sales_portal:opening-choose", args=[entry.pk, units[0].pk]),
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code in (403, 404)
    assert not Selection.objects.filter(entry=entry).exists()


def test_the_lane_leaves_another_households_entry_to_django(divorced, lane):  # noqa: F811
    a, _b, entry, units = divorced
    answer = _post(entry.pk, units[0].pk, owner=a)
    assert lane[0] is None
    assert answer.status_code == 404
    assert not Selection.objects.filter(entry=entry).exists()


def test_the_holders_household_member_still_chooses_through_the_lane(
    online,
    consultant,
    owner_household,
    lane,  # noqa: F811
):
    session, units, _entry, _rival = online
    buyer, co_buyer = owner_household.buyer, owner_household.co_buyer
    assert buyer.household_id and buyer.household_id == co_buyer.household_id
    entry = enter(
        session,
        make_deposit(project=session.project, consultant=consultant, customer=buyer),
    )
    answer = _post(entry.pk, units[1].pk, owner=co_buyer)
    assert lane[0] is not None and answer.json()["result"] == "chosen"
    client = owner_client_for(co_buyer)
    assert (
        client.get(reverse("sales_portal:opening-session", args=[entry.pk])).status_code
        == 200
    )


def test_a_co_owner_of_another_household_is_not_offered_the_online_selection(
    divorced,
):
    """The section shows to whoever may choose with an entry (the view's own
    entries), not to everyone sharing a home with its holder: A would open an empty
    list."""
    from crm_site import portal
    from sales.portal import opening_shown

    a, b, _entry, _units = divorced
    for owner, shown in ((a, False), (b, True)):
        ctx = portal.OwnerContext(
            owner=owner, household_ids=portal.household_ids(owner)
        )
        assert opening_shown(ctx) is shown, owner
