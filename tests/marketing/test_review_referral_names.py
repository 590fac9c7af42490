"""Review: recording a referral by a number that belongs to a customer the user cannot
open never tells them the name the CRM holds for it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from customers.models import Interaction
from marketing.models import Referral
from marketing.services.referrals import referral_create
from tests.factories import CustomerFactory
from tests.helpers import customer_page

HIDDEN = "欧阳秘"


@pytest.fixture
def my_owner(consultant):
    return CustomerFactory(stage="owner", assigned_consultant=consultant)


@pytest.fixture
def theirs(other_consultant):
    """A customer of another consultant, whom ``consultant`` cannot open."""
    return CustomerFactory(
        name=HIDDEN, mobile="+8613977776666", assigned_consultant=other_consultant
    )


def _refer(client, owner):
    return client.post(
        reverse("marketing:referral-create", args=[owner.pk]),
        {"friend_name": "小欧", "friend_mobile": "139 7777 6666", "project": ""},
    )


def test_a_refusal_does_not_name_a_customer_the_user_cannot_open(
    client, consultant, other_consultant, my_owner, theirs
):
    referral_create(
        actor=other_consultant,
        referrer=CustomerFactory(stage="owner"),
        friend=theirs,
        project=None,
    )
    client.force_login(consultant)
    response = _refer(client, my_owner)
    assert response.status_code == 400
    assert HIDDEN not in response.content.decode()
    assert "小欧" in response.content.decode()


def test_a_recorded_referral_shows_the_referrer_the_name_typed_not_the_crms(
    client, consultant, my_owner, theirs
):
    client.force_login(consultant)
    assert _refer(client, my_owner).status_code == 302
    assert Referral.objects.get().friend == theirs
    entry = Interaction.objects.get(customer=my_owner, event="marketing.referred")
    assert entry.params == {"name": "小欧"}
    assert HIDDEN not in customer_page(client, my_owner)


def test_a_friend_the_user_may_open_is_named_as_the_crm_holds_it(
    client, consultant, my_owner
):
    mine = CustomerFactory(
        name="吴九", mobile="+8613977776666", assigned_consultant=consultant
    )
    client.force_login(consultant)
    assert _refer(client, my_owner).status_code == 302
    entry = Interaction.objects.get(customer=my_owner, event="marketing.referred")
    assert entry.params == {"name": mine.name}
