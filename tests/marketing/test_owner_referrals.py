"""An owner recommends a friend (老带新) themselves: it becomes a referral under the
same rules as at the desk, and tells the owner nothing about an existing customer."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from customers.models import Customer, Interaction
from marketing.models import Recommendation, Referral
from marketing.services.referrals import referral_create, referral_from_owner
from tests.factories import CustomerFactory


@pytest.fixture
def owner(owner_customer):
    return owner_customer


def _recommend(owner, name="吴九", mobile="+8613811112222", agreed=True):
    return referral_from_owner(
        owner=owner, friend_name=name, friend_mobile=mobile, friend_agreed=agreed
    )


def test_a_new_friend_becomes_a_referred_customer_of_the_owners_consultant(
    owner, other_consultant
):
    recommendation = _recommend(owner)
    referral = recommendation.referral
    assert recommendation.outcome == Recommendation.Outcome.REFERRED
    assert referral.referrer == owner and referral.recorded_by is None
    assert referral.name_given == "吴九"
    friend = referral.friend
    assert friend.source == Customer.Source.REFERRAL
    assert friend.assigned_consultant == other_consultant
    entry = Interaction.objects.get(
        customer=owner, event="marketing.recommended_in_portal"
    )
    assert entry.channel == "portal" and entry.params == {"name": "吴九"}
    assert Interaction.objects.filter(
        customer=friend, event="marketing.referred_by"
    ).exists()


def test_a_protected_existing_customer_keeps_their_record_and_consultant(
    owner, consultant
):
    existing = CustomerFactory(
        name="真名", mobile="+8613811112222", assigned_consultant=consultant
    )
    recommendation = _recommend(owner, name="小吴")
    assert Customer.objects.filter(mobile="+8613811112222").count() == 1
    referral = recommendation.referral
    assert referral.friend == existing and referral.name_given == "小吴"
    existing.refresh_from_db()
    assert existing.assigned_consultant == consultant and existing.name == "真名"


@pytest.mark.parametrize("case", ["referred", "signed", "household", "self"])
def test_a_friend_who_cannot_be_referred_is_kept_declined_without_an_error(
    owner, consultant, sign, case, admin_user
):
    friend = CustomerFactory(mobile="+8613811112222", assigned_consultant=consultant)
    outcome = {
        "referred": Recommendation.Outcome.ALREADY_REFERRED,
        "signed": Recommendation.Outcome.ALREADY_SIGNED,
        "household": Recommendation.Outcome.OWN_HOUSEHOLD,
        "self": Recommendation.Outcome.OWN_HOUSEHOLD,
    }[case]
    if case == "referred":
        other = CustomerFactory(stage="owner")
        referral_create(actor=consultant, referrer=other, friend=friend, project=None)
    elif case == "signed":
        sign(friend, consultant)
    elif case == "household":
        from customers.services import household_link

        # The owner is a colleague's customer: someone who may change both links them.
        household_link(actor=admin_user, customer=owner, other=friend, role="spouse")
    mobile = owner.mobile if case == "self" else friend.mobile
    referrals_before = Referral.objects.count()
    recommendation = _recommend(owner, mobile=mobile)
    assert recommendation.outcome == outcome and recommendation.referral is None
    assert Referral.objects.count() == referrals_before
    # The owner's timeline has their action all the same, with the reason for staff.
    entry = Interaction.objects.get(
        customer=owner, event="marketing.recommendation_declined"
    )
    assert entry.params["outcome"] == outcome and entry.channel == "portal"


def test_a_recommendation_needs_the_friends_agreement_and_an_owner(own_customer, owner):
    with pytest.raises(ValidationError):
        _recommend(owner, agreed=False)
    with pytest.raises(ValidationError):
        _recommend(own_customer)
    assert not Recommendation.objects.exists() and not Referral.objects.exists()


def test_an_owner_recommends_at_most_ten_friends_a_day(owner):
    from marketing.services.referrals import RECOMMENDATIONS_PER_DAY

    for n in range(RECOMMENDATIONS_PER_DAY):
        _recommend(owner, name=f"朋友{n}", mobile=f"+861381111{n:04d}")
    with pytest.raises(ValidationError):
        _recommend(owner, name="再一个", mobile="+8613822229999")
    assert Recommendation.objects.count() == RECOMMENDATIONS_PER_DAY
