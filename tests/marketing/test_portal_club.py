"""Marketing's pages in the owners' portal: recommend a friend and the member club,
within the signed-in owner's household only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from customers.models import Customer, Interaction
from marketing import services
from marketing.models import (
    Campaign,
    CampaignMember,
    ClubLevel,
    Recommendation,
    Referral,
    Response,
)
from marketing.services.club import points_correct
from marketing.services.referrals import referral_create
from sales.services import opportunity_contract
from tests.factories import CustomerFactory
from tests.helpers import assert_queries_do_not_grow

RECOMMEND = reverse("marketing_portal:recommend")
CLUB = reverse("marketing_portal:club")


@pytest.fixture
def signed_owner(owner, owner_household, consultant):
    """The portal owner, with the purchase contract signed (a club member who may
    recommend friends)."""
    opportunity_contract(actor=consultant, opportunity=owner_household.deal)
    return owner


@pytest.fixture
def signed_other_owner(other_owner, other_owner_household, other_consultant):
    opportunity_contract(actor=other_consultant, opportunity=other_owner_household.deal)
    return other_owner


@pytest.fixture
def levels(db):
    return [
        ClubLevel.objects.create(name="普卡", min_points=0, benefits="生日礼"),
        ClubLevel.objects.create(
            name="银卡", min_points=100, benefits="免费洗车\n物业费九五折"
        ),
    ]


def _event(marketer, owner, name="业主答谢会", **fields):
    campaign = services.campaign_create(
        actor=marketer,
        name=name,
        kind="event",
        project=owner.opportunities.first().project,
        starts_on=timezone.localdate(),
        ends_on=timezone.localdate() + timedelta(days=3),
        message="周六下午，会所见",
        **fields,
    )
    services.campaign_move(actor=marketer, campaign=campaign, status="running")
    return CampaignMember.objects.create(campaign=campaign, customer=owner)


# Recommend a friend ------------------------------------------------------------------


def test_an_owner_recommends_a_friend_and_sees_it_received(
    owner_client, signed_owner, consultant
):
    response = owner_client.post(
        RECOMMEND,
        {
            "friend_name": "陈朋友",
            "friend_mobile": "139 0013 9000",
            "friend_agreed": "on",
        },
    )
    assert response.status_code == 302
    referral = Referral.objects.get()
    assert referral.referrer == signed_owner and referral.recorded_by is None
    assert referral.friend.mobile == "+8613900139000"
    assert referral.friend.assigned_consultant == consultant
    page = owner_client.get(RECOMMEND).content.decode()
    assert "陈朋友" in page
    interaction = Interaction.objects.get(
        customer=signed_owner, event="marketing.recommended_in_portal"
    )
    assert interaction.channel == "portal"


@pytest.mark.parametrize(
    "data",
    [
        {"friend_name": "陈朋友", "friend_mobile": "139 0013 9000"},  # no agreement
        {"friend_name": "陈朋友", "friend_mobile": "12345", "friend_agreed": "on"},
        {"friend_name": " ", "friend_mobile": "13900139000", "friend_agreed": "on"},
    ],
    ids=["not-agreed", "bad-mobile", "no-name"],
)
def test_a_bad_recommendation_is_refused_and_nothing_is_saved(
    owner_client, signed_owner, data
):
    assert owner_client.post(RECOMMEND, data).status_code == 400
    assert not Recommendation.objects.exists() and not Referral.objects.exists()
    assert not Customer.objects.filter(mobile="+8613900139000").exists()


def test_a_buyer_before_the_contract_cannot_recommend_yet(owner_client, owner):
    page = owner_client.get(RECOMMEND)
    assert 'data-testid="recommend-closed"' in page.content.decode()
    response = owner_client.post(
        RECOMMEND,
        {"friend_name": "陈", "friend_mobile": "13900139000", "friend_agreed": "on"},
    )
    assert response.status_code == 400 and not Recommendation.objects.exists()


def test_an_existing_customer_is_never_shown_to_the_owner(
    owner_client, signed_owner, consultant, sign
):
    """A protected customer, one already referred by someone else and one who already
    signed: each is recorded (or kept declined) as at the desk, and the owner's page
    shows only the name they typed, as received."""
    protected = CustomerFactory(
        name="保护客户真名", mobile="+8613900000001", assigned_consultant=consultant
    )
    referred = CustomerFactory(name="已推荐真名", mobile="+8613900000002")
    referral_create(
        actor=consultant,
        referrer=CustomerFactory(stage="owner", name="别的业主"),
        friend=referred,
        project=None,
    )
    signed = CustomerFactory(
        name="已签约真名", mobile="+8613900000003", assigned_consultant=consultant
    )
    sign(signed, consultant)
    for n, typed in enumerate(("小一", "小二", "小三"), start=1):
        response = owner_client.post(
            RECOMMEND,
            {
                "friend_name": typed,
                "friend_mobile": f"1390000000{n}",
                "friend_agreed": "on",
            },
        )
        assert response.status_code == 302
        follow = owner_client.get(RECOMMEND).content.decode()
        assert typed in follow
    page = owner_client.get(RECOMMEND).content.decode()
    for secret in (
        "保护客户真名",
        "已推荐真名",
        "已签约真名",
        "别的业主",
        consultant.username,
    ):
        assert secret not in page
    progress = page.count('data-testid="recommendation-progress"')
    assert progress == 3
    # All three read the same: received, no reward yet.
    assert page.count('aria-valuenow="1"') == 3 and "¥" not in page
    protected.refresh_from_db()
    assert protected.assigned_consultant == consultant
    assert Customer.objects.filter(mobile="+8613900000001").count() == 1


def test_the_progress_and_reward_follow_the_friend_after_the_recommendation(
    owner_client, signed_owner, consultant, sign, marketer
):
    from marketing.models import ReferralReward
    from marketing.models.payouts import Payout

    owner_client.post(
        RECOMMEND,
        {
            "friend_name": "陈朋友",
            "friend_mobile": "13900139000",
            "friend_agreed": "on",
        },
    )
    friend = Referral.objects.get().friend
    sign(friend, consultant)
    page = owner_client.get(RECOMMEND).content.decode()
    assert "¥5,000.00" in page
    reward = ReferralReward.objects.get()
    reward.move_to(Payout.Status.APPROVED, actor=marketer)
    reward.move_to(Payout.Status.PAID, actor=marketer)
    assert "¥5,000.00" in owner_client.get(RECOMMEND).content.decode()


def test_the_recommendations_are_the_households_only(
    owner_client, other_owner_client, signed_owner, signed_other_owner
):
    owner_client.post(
        RECOMMEND,
        {
            "friend_name": "甲的朋友",
            "friend_mobile": "13900139001",
            "friend_agreed": "on",
        },
    )
    other_owner_client.post(
        RECOMMEND,
        {
            "friend_name": "乙的朋友",
            "friend_mobile": "13900139002",
            "friend_agreed": "on",
        },
    )
    mine = owner_client.get(RECOMMEND).content.decode()
    theirs = other_owner_client.get(RECOMMEND).content.decode()
    assert "甲的朋友" in mine and "乙的朋友" not in mine
    assert "乙的朋友" in theirs and "甲的朋友" not in theirs


def test_the_recommend_page_queries_do_not_grow(owner_client, signed_owner):
    counter = iter(range(10, 99))

    def grow():
        for _ in range(4):
            n = next(counter)
            owner_client.post(
                RECOMMEND,
                {
                    "friend_name": f"朋友{n}",
                    "friend_mobile": f"139001390{n}",
                    "friend_agreed": "on",
                },
            )

    grow()
    assert_queries_do_not_grow(lambda: owner_client.get(RECOMMEND), grow, at_most=14)


# The member club ---------------------------------------------------------------------


def test_the_club_page_shows_level_points_benefits_and_the_ledger(
    owner_client, signed_owner, levels, marketer
):
    from marketing.services.club import members_enrol

    members_enrol()
    points_correct(actor=marketer, member=signed_owner, points=120, reason="开卡礼")
    page = owner_client.get(CLUB).content.decode()
    assert 'data-testid="club-level">银卡' in page
    assert 'data-testid="club-points">120' in page
    assert "免费洗车" in page and "开卡礼" in page


def test_the_points_history_is_paged(owner_client, signed_owner, levels, marketer):
    from marketing.services.club import members_enrol
    from marketing.views.portal import LEDGER_ROWS

    members_enrol()
    for n in range(LEDGER_ROWS + 3):
        points_correct(actor=marketer, member=signed_owner, points=1, reason=f"补发{n}")
    first = owner_client.get(CLUB).context
    assert len(first["history"].items) == LEDGER_ROWS and first["history"].has_next
    second = owner_client.get(CLUB, {"page": "2"}).context["history"]
    assert not second.has_next
    # Members enrolled with a welcome entry or not: the rest is on page two.
    assert 3 <= len(second.items) <= 4
    assert "补发0" in owner_client.get(CLUB, {"page": "2"}).content.decode()


def test_a_buyer_before_the_contract_is_not_a_member_yet(owner_client, owner, levels):
    page = owner_client.get(CLUB).content.decode()
    assert 'data-testid="club-not-member"' in page


def test_an_owner_signs_up_for_an_event_that_invites_them(
    owner_client, signed_owner, marketer
):
    member = _event(marketer, signed_owner)
    page = owner_client.get(CLUB).content.decode()
    assert "业主答谢会" in page
    url = reverse("marketing_portal:event-signup", args=[member.pk])
    assert owner_client.get(url).status_code == 200
    assert owner_client.post(url).status_code == 302
    assert owner_client.post(url).status_code == 302  # twice: one response
    response = Response.objects.get(member=member)
    assert response.kind == Response.Kind.SIGNUP
    entry = Interaction.objects.get(
        customer=signed_owner, event="marketing.signed_up_in_portal"
    )
    assert entry.channel == "portal"
    assert (
        'data-testid="club-event-signed-up"' in owner_client.get(CLUB).content.decode()
    )


def test_an_event_of_a_higher_level_refuses_the_sign_up(
    owner_client, signed_owner, marketer, levels
):
    member = _event(marketer, signed_owner, min_level=levels[1])
    url = reverse("marketing_portal:event-signup", args=[member.pk])
    assert owner_client.post(url).status_code == 302
    assert not Response.objects.exists()


def test_another_households_event_and_points_stay_out_of_reach(
    owner_client, other_owner_client, signed_owner, signed_other_owner, marketer
):
    from marketing.services.club import members_enrol

    members_enrol()
    points_correct(
        actor=marketer, member=signed_other_owner, points=777, reason="邻居的积分"
    )
    theirs = _event(marketer, signed_other_owner, name="邻居的活动")
    url = reverse("marketing_portal:event-signup", args=[theirs.pk])
    assert owner_client.get(url).status_code == 404
    assert owner_client.post(url).status_code == 404
    assert not Response.objects.exists()
    page = owner_client.get(CLUB).content.decode()
    assert "邻居的活动" not in page and "777" not in page and "邻居的积分" not in page
    assert "邻居的活动" in other_owner_client.get(CLUB).content.decode()


def test_the_club_page_queries_do_not_grow(
    owner_client, signed_owner, marketer, levels
):
    from marketing.services.club import members_enrol

    members_enrol()
    counter = iter(range(100))

    def grow():
        for _ in range(3):
            n = next(counter)
            points_correct(
                actor=marketer, member=signed_owner, points=n + 1, reason="补发"
            )
            _event(marketer, signed_owner, name=f"活动{n}")

    grow()
    assert_queries_do_not_grow(lambda: owner_client.get(CLUB), grow, at_most=14)


def test_staff_sessions_and_strangers_never_open_the_owners_club(client, marketer):
    for url in (RECOMMEND, CLUB):
        assert client.get(url).status_code == 302
        client.force_login(marketer)
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("portal:sign-in"))
        client.logout()


def test_an_event_past_its_end_date_is_not_offered_and_refuses_a_late_sign_up(
    owner_client, signed_owner, marketer
):
    member = _event(marketer, signed_owner)
    today = timezone.localdate()
    Campaign.objects.filter(pk=member.campaign_id).update(
        starts_on=today - timedelta(days=3), ends_on=today - timedelta(days=1)
    )
    assert 'data-testid="club-event"' not in owner_client.get(CLUB).content.decode()
    url = reverse("marketing_portal:event-signup", args=[member.pk])
    response = owner_client.post(url, follow=True, HTTP_ACCEPT_LANGUAGE="en")
    assert "sign-ups are closed" in response.content.decode()
    assert not Response.objects.exists()
