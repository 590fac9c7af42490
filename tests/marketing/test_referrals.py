from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone, translation

from crm_site.models import AuditEntry
from customers.models import Customer, Interaction
from marketing.handlers import on_deal_contracted
from marketing.models import Referral, ReferralReward, ReferralRule
from marketing.models.payouts import Payout
from marketing.referrals import referral_funnel
from marketing.services.payouts import payout_move
from marketing.services.referrals import is_owner, referral_create
from sales.models import CoBuyer, Opportunity
from tests.factories import CustomerFactory
from tests.helpers import assert_queries_do_not_grow, customer_page

LIST = reverse("marketing:referral-list")


@pytest.fixture
def owner(owner_customer):
    return owner_customer


@pytest.fixture
def friend(consultant):
    return CustomerFactory(
        name="吴九", mobile="+8613811112222", assigned_consultant=consultant
    )


@pytest.fixture
def referral(owner, friend, consultant, project):
    return referral_create(
        actor=consultant, referrer=owner, friend=friend, project=project
    )


def test_an_owner_refers_an_existing_customer_and_both_timelines_say_so(
    referral, owner, friend
):
    assert referral.referrer == owner and referral.friend == friend
    referred = Interaction.objects.get(customer=owner, event="marketing.referred")
    assert referred.params == {"name": "吴九"} and referred.kind == "system"
    by = Interaction.objects.get(customer=friend, event="marketing.referred_by")
    assert by.params == {"name": owner.name}
    with translation.override("en"):
        assert (referred.text, by.text) == (
            "Referred 吴九",
            f"Referred by {owner.name}",
        )
    assert AuditEntry.objects.filter(object_id=referral.pk, action="create").exists()


def test_a_referral_may_create_the_friend_as_a_new_referred_customer(owner, consultant):
    referral = referral_create(
        actor=consultant,
        referrer=owner,
        project=None,
        friend_name="郑十",
        friend_mobile="+8613833334444",
    )
    assert referral.friend.source == Customer.Source.REFERRAL
    assert referral.friend.assigned_consultant == consultant


def test_a_prospect_cannot_refer(own_customer, friend, consultant):
    with pytest.raises(ValidationError):
        referral_create(
            actor=consultant, referrer=own_customer, friend=friend, project=None
        )
    assert not Referral.objects.exists()


def test_a_buyer_with_a_contracted_deal_counts_as_an_owner(
    own_customer, friend, consultant, sign
):
    sign(own_customer, consultant)
    referral_create(
        actor=consultant, referrer=own_customer, friend=friend, project=None
    )


@pytest.mark.parametrize(
    ("stage", "may_refer"),
    [(Opportunity.Stage.SUBSCRIBED, False), (Opportunity.Stage.CONTRACTED, True)],
)
def test_a_co_buyer_of_a_signed_deal_refers_as_its_buyer_does(
    own_customer, friend, consultant, sign, stage, may_refer
):
    """共同购房人 is an owner: the spouse named on a signed contract may recommend a
    friend in the portal, as the buyer may."""
    spouse = CustomerFactory(assigned_consultant=consultant)
    deal = sign(own_customer, consultant, stage=stage)
    CoBuyer.objects.create(opportunity=deal, customer=spouse)
    assert is_owner(spouse) is may_refer
    if may_refer:
        referral_create(actor=consultant, referrer=spouse, friend=friend, project=None)


def test_a_friend_is_referred_once_and_not_by_themselves(
    referral, owner, friend, consultant, owner_customer
):
    second = CustomerFactory(stage="owner")
    with pytest.raises(ValidationError, match="已被他人推荐"):
        referral_create(actor=consultant, referrer=second, friend=friend, project=None)
    with pytest.raises(ValidationError):
        referral_create(actor=consultant, referrer=owner, friend=owner, project=None)


def test_a_friend_who_already_signed_cannot_be_referred(
    owner, friend, consultant, sign
):
    sign(friend, consultant)
    with pytest.raises(ValidationError, match="已认购或签约"):
        referral_create(actor=consultant, referrer=owner, friend=friend, project=None)


def test_no_reward_before_the_contract(referral, friend, consultant, sign):
    sign(friend, consultant, stage=Opportunity.Stage.SUBSCRIBED)
    assert not ReferralReward.objects.exists()


def test_the_reward_becomes_due_when_the_friends_deal_is_contracted_and_only_once(
    referral, friend, consultant, sign
):
    deal = sign(friend, consultant)
    reward = ReferralReward.objects.get()
    assert reward.referral == referral and reward.status == Payout.Status.DUE
    assert reward.amount == Decimal("5000.00")
    referral.refresh_from_db()
    assert referral.opportunity == deal
    # A repeated contract signal (a repair job, a retry) does nothing.
    on_deal_contracted(None, opportunity=deal, actor=consultant)

    assert ReferralReward.objects.count() == 1


def test_the_project_rule_sets_the_reward(referral, friend, consultant, sign, project):
    ReferralRule.objects.create(project=project, reward=Decimal("8888.00"))
    sign(friend, consultant)
    assert ReferralReward.objects.get().amount == Decimal("8888.00")


@override_settings(REFERRAL_REWARD_DEFAULT="3000")
def test_without_a_rule_the_setting_sets_the_reward(referral, friend, consultant, sign):
    sign(friend, consultant)
    assert ReferralReward.objects.get().amount == Decimal("3000.00")


def test_a_referral_for_another_project_earns_nothing(owner, friend, consultant, sign):
    from sales.models import Project

    elsewhere = Project.objects.create(name="别处")
    referral_create(actor=consultant, referrer=owner, friend=friend, project=elsewhere)
    sign(friend, consultant)
    assert not ReferralReward.objects.exists()


def test_reward_goes_due_approved_paid_with_who_and_when(
    referral, friend, consultant, sign, sales_manager, marketer
):
    sign(friend, consultant)
    reward = ReferralReward.objects.get()
    with pytest.raises(ValidationError):
        payout_move(actor=marketer, payout=reward, status=Payout.Status.PAID)
    assert payout_move(
        actor=sales_manager, payout=reward, status=Payout.Status.APPROVED
    )
    assert payout_move(actor=marketer, payout=reward, status=Payout.Status.PAID)
    assert not payout_move(actor=marketer, payout=reward, status=Payout.Status.PAID)
    reward.refresh_from_db()
    assert (reward.approved_by, reward.paid_by) == (sales_manager, marketer)
    assert reward.approved_at and reward.paid_at
    assert AuditEntry.objects.filter(object_id=reward.pk, action="update").count() == 2


def test_the_funnel_counts_each_step(owner, consultant, sign, project, marketer):
    friends = CustomerFactory.create_batch(4, assigned_consultant=consultant)
    for friend in friends:
        referral_create(
            actor=consultant, referrer=owner, friend=friend, project=project
        )
    from customers.services import interaction_log

    interaction_log(customer=friends[0], kind="visit", summary="到访", actor=consultant)
    sign(friends[1], consultant, stage=Opportunity.Stage.SUBSCRIBED)
    sign(friends[2], consultant)
    sign(friends[3], consultant)
    reward = ReferralReward.objects.get(referral__friend=friends[3])
    reward.move_to(Payout.Status.APPROVED, actor=marketer)
    reward.move_to(Payout.Status.PAID, actor=marketer)
    funnel = referral_funnel(project=project)
    assert funnel["referred"] == 4
    assert funnel["visited"] == 4  # a logged visit, and three deals past "visited"
    assert funnel["subscribed"] == 3
    assert funnel["contracted"] == 2
    assert (funnel["reward_due_count"], funnel["reward_due"]) == (1, Decimal("5000"))
    assert (funnel["reward_paid_count"], funnel["reward_paid"]) == (1, Decimal("5000"))
    today = timezone.localdate()
    assert referral_funnel(start=today + timedelta(days=1))["referred"] == 0
    assert referral_funnel(start=today, end=today)["referred"] == 4


# Screens ---------------------------------------------------------------------------


def test_the_customer_page_shows_the_referral_panel_with_the_form_for_an_owner(
    client, consultant, owner
):
    owner.assigned_consultant = consultant
    owner.save()
    client.force_login(consultant)
    assert 'data-testid="referral-form"' in customer_page(client, owner)


def test_recording_a_referral_from_the_customer_page(client, consultant, owner):
    owner.assigned_consultant = consultant
    owner.save()
    client.force_login(consultant)
    response = client.post(
        reverse("marketing:referral-create", args=[owner.pk]),
        {"friend_name": "郑十", "friend_mobile": "138 3333 4444", "project": ""},
    )
    assert response.status_code == 302
    assert Referral.objects.get().friend.mobile == "+8613833334444"


def test_a_bad_number_is_refused_next_to_the_field_and_nothing_is_saved(
    client, consultant, owner
):
    owner.assigned_consultant = consultant
    owner.save()
    client.force_login(consultant)
    response = client.post(
        reverse("marketing:referral-create", args=[owner.pk]),
        {"friend_name": "郑十", "friend_mobile": "12345"},
    )
    assert response.status_code == 400
    assert response.context["form"].errors["friend_mobile"]
    assert (
        not Referral.objects.exists()
        and not Customer.objects.filter(name="郑十").exists()
    )


def test_recording_for_a_customer_outside_ones_scope_is_404(
    client, far_consultant, owner
):
    client.force_login(far_consultant)
    response = client.post(
        reverse("marketing:referral-create", args=[owner.pk]),
        {"friend_name": "郑十", "friend_mobile": "13833334444"},
    )
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("consultant", 403),
        ("sales_manager", 200),
        ("service_agent", 403),
        ("service_manager", 403),
        ("marketer", 200),
        ("executive", 200),
        ("administrator", 200),
        ("outsider", 403),
        ("broker", 403),
    ],
    indirect=["persona"],
)
def test_who_may_see_the_referral_list(client, persona, status):
    client.force_login(persona)
    assert client.get(LIST).status_code == status


@pytest.mark.parametrize(
    ("persona", "approve", "pay"),
    [
        ("consultant", 403, 403),
        ("sales_manager", 302, 403),
        ("marketer", 403, 302),
        ("executive", 403, 403),
        ("administrator", 302, 302),
        ("broker", 403, 403),
    ],
    indirect=["persona"],
)
def test_who_may_approve_and_pay_rewards(
    client, persona, approve, pay, referral, friend, consultant, sign
):
    sign(friend, consultant)
    client.force_login(persona)
    url = reverse("marketing:reward-approve", args=[referral.pk])
    assert client.post(url).status_code == approve
    assert (
        client.post(reverse("marketing:reward-pay", args=[referral.pk])).status_code
        == pay
    )


def test_paying_from_the_screen_records_who(
    client, referral, friend, consultant, sign, administrator
):
    sign(friend, consultant)
    client.force_login(administrator)
    client.post(reverse("marketing:reward-approve", args=[referral.pk]))
    client.post(reverse("marketing:reward-pay", args=[referral.pk]))
    reward = ReferralReward.objects.get()
    assert reward.status == "paid" and reward.paid_by == administrator
    page = client.get(reverse("marketing:referral-detail", args=[referral.pk]))
    assert page.status_code == 200


def test_the_list_filters_by_reward_status(
    client, marketer, referral, owner, friend, consultant, sign
):
    other = CustomerFactory()
    referral_create(actor=consultant, referrer=owner, friend=other, project=None)
    sign(friend, consultant)
    client.force_login(marketer)
    rows = client.get(LIST, {"reward": "due"}).context["page"].items
    assert [r.friend for r in rows] == [friend]
    rows = client.get(LIST, {"reward": "waiting"}).context["page"].items
    assert [r.friend for r in rows] == [other]


def test_the_referral_list_queries_do_not_grow(client, marketer, owner, consultant):
    client.force_login(marketer)

    def grow():
        for _ in range(5):
            referral_create(
                actor=consultant, referrer=owner, friend=CustomerFactory(), project=None
            )

    grow()
    assert_queries_do_not_grow(lambda: client.get(LIST), grow, at_most=12)


def test_a_contract_recorded_on_the_deal_page_makes_the_reward_due(
    client, referral, friend, consultant, sign
):
    deal = sign(friend, consultant, stage=Opportunity.Stage.SUBSCRIBED)
    client.force_login(consultant)
    # The stage screen offers no contract: signing is its own confirmed step.
    client.post(
        reverse("sales:opportunity-move", args=[deal.pk]),
        {"stage": Opportunity.Stage.CONTRACTED},
    )
    deal.refresh_from_db()
    assert deal.stage == Opportunity.Stage.SUBSCRIBED
    client.post(
        reverse("sales:opportunity-contract", args=[deal.pk]), {"confirmed": "1"}
    )
    deal.refresh_from_db()
    assert deal.stage == Opportunity.Stage.CONTRACTED
    assert ReferralReward.objects.get().referral == referral


def test_a_failed_contract_leaves_no_reward(referral, friend, consultant, sign):
    from django.db import transaction

    deal = sign(friend, consultant, stage=Opportunity.Stage.SUBSCRIBED)
    deal.refresh_from_db()
    with pytest.raises(RuntimeError), transaction.atomic():
        deal.move_to(Opportunity.Stage.CONTRACTED, actor=consultant)
        assert ReferralReward.objects.exists()
        raise RuntimeError("the contract's transaction fails after the signal")
    assert not ReferralReward.objects.exists()


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("consultant", 200),
        ("sales_manager", 200),
        ("service_agent", 403),
        ("service_manager", 403),
        ("executive", 403),
        ("administrator", 200),
        ("outsider", 403),
        ("broker", 403),
    ],
    indirect=["persona"],
)
def test_who_may_record_a_referral(client, persona, status, consultant, owner):
    owner.assigned_consultant = consultant
    owner.save()
    client.force_login(persona)
    url = reverse("marketing:referral-create", args=[owner.pk])
    assert client.get(url).status_code == status


RULES = reverse("marketing:referral-rules")


def test_marketing_sets_a_projects_reward_for_rewards_due_from_now_on(
    client, marketer, referral, friend, consultant, sign, project
):
    client.force_login(marketer)
    assert client.get(RULES).status_code == 200
    response = client.post(RULES, {"project": project.pk, "reward": "6600"})
    assert response.status_code == 302
    assert ReferralRule.objects.get(project=project).reward == Decimal("6600.00")
    assert AuditEntry.objects.filter(
        content_type__model="referralrule", action="create"
    ).exists()
    sign(friend, consultant)
    assert ReferralReward.objects.get().amount == Decimal("6600.00")


def test_a_negative_reward_is_refused_next_to_the_field(client, marketer, project):
    client.force_login(marketer)
    response = client.post(RULES, {"project": project.pk, "reward": "-1"})
    assert response.status_code == 400
    assert response.context["form"].errors["reward"]
    assert not ReferralRule.objects.exists()


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("consultant", 403),
        ("sales_manager", 403),
        ("marketer", 200),
        ("executive", 403),
        ("administrator", 200),
        ("broker", 403),
    ],
    indirect=["persona"],
)
def test_who_may_set_referral_rewards(client, persona, status):
    client.force_login(persona)
    assert client.get(RULES).status_code == status


def test_a_sales_manager_settles_only_the_referrals_of_their_teams_projects(
    client, sales_manager, marketer, other_team, referral, friend, consultant, sign
):
    sign(friend, consultant)
    referral.project.teams.set([other_team])  # sold by another team only
    client.force_login(sales_manager)

    approve = client.post(reverse("marketing:reward-approve", args=[referral.pk]))
    detail = client.get(reverse("marketing:referral-detail", args=[referral.pk]))

    assert (approve.status_code, detail.status_code) == (404, 404)
    assert referral.pk not in [r.pk for r in client.get(LIST).context["page"].items]
    assert ReferralReward.objects.get().status == Payout.Status.DUE
    # The marketing desk pays every project's rewards.
    client.force_login(marketer)
    assert referral.pk in [r.pk for r in client.get(LIST).context["page"].items]


def test_a_cancelled_deal_withdraws_the_unpaid_reward(
    referral, friend, consultant, sales_manager, sign
):
    from sales import services as sales_services

    deal = sign(friend, consultant)
    assert ReferralReward.objects.get().status == Payout.Status.DUE
    change = sales_services.deal_change_request(
        actor=consultant, opportunity=deal, kind="cancel", reason="退房"
    )
    sales_services.deal_change_decide(actor=sales_manager, change=change, approve=True)

    assert not ReferralReward.objects.exists()
    referral.refresh_from_db()
    assert referral.opportunity_id is None  # a later deal may earn it again
    assert AuditEntry.objects.filter(action="delete").exists()


def test_the_referral_page_links_only_to_pages_the_reader_may_open(
    client, marketer, consultant, referral, friend, owner, sign
):
    """The marketer sees customers who consented to marketing and no sales desk:
    the friend without that consent and the friend's deal are named, not linked
    to a 404 and a 403. The consultant, whose customer the friend is, gets both."""
    Customer.objects.filter(pk=friend.pk).update(
        consent_sms=False, consent_email=False, consent_phone=False
    )
    Customer.objects.filter(pk=owner.pk).update(consent_sms=True)
    deal = sign(friend, consultant)
    referral.refresh_from_db()
    url = reverse("marketing:referral-detail", args=[referral.pk])
    client.force_login(marketer)
    page = client.get(url).content.decode()
    assert friend.name in page and f'href="{friend.get_absolute_url()}"' not in page
    assert f'href="{owner.get_absolute_url()}"' in page
    assert f'href="{deal.get_absolute_url()}"' not in page
    for href in re.findall(r'href="(/(?:customers|sales)/[^"]+)"', page):
        assert client.get(href).status_code == 200, href
