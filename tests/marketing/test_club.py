"""The member club: the ledger's rules, awarding once per occurrence, levels, the
staff pages (members list, ledger, corrections) and club events."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from crm_site.models import AuditEntry
from marketing import point_sources, services
from marketing.models import (
    Campaign,
    CampaignMember,
    ClubLevel,
    ClubMember,
    PointEntry,
    PointRule,
    Response,
)
from marketing.points import point_source
from marketing.services.club import (
    club_levels,
    level_for,
    members_enrol,
    points_award,
    points_correct,
    points_sweep,
    sweep_job,
)
from marketing.services.referrals import referral_create
from sales.models import Opportunity, StageChange
from tests.factories import CustomerFactory
from tests.helpers import assert_queries_do_not_grow, customer_page
from tests.marketing.conftest import make_campaign


@pytest.fixture
def levels(db) -> list[ClubLevel]:
    return [
        ClubLevel.objects.create(name="普卡", min_points=0, order=1),
        ClubLevel.objects.create(
            name="银卡", min_points=100, benefits="免费洗车\n物业费九五折", order=2
        ),
        ClubLevel.objects.create(name="金卡", min_points=500, order=3),
    ]


@pytest.fixture
def rules(db) -> dict[str, PointRule]:
    return {
        source: PointRule.objects.create(source=source, points=points)
        for source, points in (
            (point_sources.REFERRAL_CONTRACT, 200),
            (point_sources.EVENT_ATTENDED, 50),
            (point_sources.OWNERSHIP_YEAR, 100),
            ("survey_answered", 20),
        )
    }


@pytest.fixture
def member(owner_customer):
    return owner_customer


def _correct(actor, member, points=30, reason="开卡礼"):
    return points_correct(actor=actor, member=member, points=points, reason=reason)


# The ledger ------------------------------------------------------------------------


def test_a_ledger_entry_is_never_changed_or_deleted(member, marketer):
    entry = _correct(marketer, member)
    entry.points = 999
    with pytest.raises(ValidationError):
        entry.save()
    with pytest.raises(ValidationError):
        entry.delete()
    with pytest.raises(ValidationError):
        PointEntry.objects.filter(pk=entry.pk).update(points=999)
    with pytest.raises(ValidationError):
        PointEntry.objects.filter(pk=entry.pk).delete()
    assert PointEntry.objects.get(pk=entry.pk).points == 30


def test_a_correction_is_a_new_audited_entry_and_moves_the_balance(member, marketer):
    first = _correct(marketer, member, points=120, reason="开卡礼")
    second = points_correct(
        actor=marketer, member=member, points=-20, reason="重复发放", corrects=first
    )
    assert PointEntry.objects.filter(member=member).count() == 2
    assert second.corrects == first and second.created_by == marketer
    assert ClubMember.objects.get(customer=member).balance == 100
    audit = AuditEntry.objects.get(object_id=second.pk, action="create")
    assert audit.actor == marketer
    assert audit.changes["points"]["new"] == "-20"
    assert audit.changes["reason"]["new"] == "重复发放"


@pytest.mark.parametrize(
    ("points", "reason"),
    [(0, "无"), (10, "  "), (10, "")],
    ids=["zero", "blank", "none"],
)
def test_a_correction_needs_points_and_a_reason(member, marketer, points, reason):
    with pytest.raises(ValidationError):
        points_correct(actor=marketer, member=member, points=points, reason=reason)
    assert not PointEntry.objects.exists()


def test_only_club_members_have_points_to_correct(own_customer, marketer):
    with pytest.raises(ValidationError):
        _correct(marketer, own_customer)
    assert not PointEntry.objects.exists()


def test_the_admin_shows_the_ledger_but_never_changes_or_deletes_it(
    client, administrator, member, marketer
):
    entry = _correct(marketer, member)
    client.force_login(administrator)
    assert client.get(reverse("admin:marketing_pointentry_changelist")).status_code == (
        200
    )
    change = reverse("admin:marketing_pointentry_change", args=[entry.pk])
    assert client.get(change).status_code == 200  # to read
    assert client.post(change, {"points": 1, "reason": "x"}).status_code == 403
    assert (
        client.post(
            reverse("admin:marketing_pointentry_delete", args=[entry.pk]),
            {"post": "yes"},
        ).status_code
        == 403
    )
    assert client.get(reverse("admin:marketing_pointentry_add")).status_code == 403
    assert PointEntry.objects.get(pk=entry.pk).points == 30


# Awarding ----------------------------------------------------------------------------


def test_a_referral_reaching_contract_earns_points_once_however_often_awarded(
    member,
    consultant,
    sign,
    rules,
    project,
    django_capture_on_commit_callbacks,
):
    friend = CustomerFactory(assigned_consultant=consultant)
    referral_create(actor=consultant, referrer=member, friend=friend, project=project)
    with (
        mock.patch("marketing.tasks.points_award.delay") as queued,
        django_capture_on_commit_callbacks(execute=True),
    ):
        sign(friend, consultant)
    queued.assert_called_once_with(point_sources.REFERRAL_CONTRACT, [member.pk])
    from marketing.tasks import points_award as task

    assert task(point_sources.REFERRAL_CONTRACT, [member.pk]) == 1
    assert task(point_sources.REFERRAL_CONTRACT, [member.pk]) == 0
    assert points_sweep() == {
        point_sources.EVENT_ATTENDED: 0,
        point_sources.OWNERSHIP_YEAR: 0,
        point_sources.REFERRAL_CONTRACT: 0,
        "survey_answered": 0,
    }
    entry = PointEntry.objects.get(member=member)
    assert (entry.points, entry.source, entry.kind) == (
        200,
        "referral_contract",
        "award",
    )
    assert ClubMember.objects.get(customer=member).balance == 200


def test_checking_in_at_an_event_queues_the_award_and_earns_points_once(
    member, marketer, project, rules, django_capture_on_commit_callbacks
):
    campaign = make_campaign(marketer, project, invite_email=False, invite_sms=False)
    services.campaign_move(actor=marketer, campaign=campaign, status="running")
    guest = CampaignMember.objects.create(campaign=campaign, customer=member)
    with (
        mock.patch("marketing.tasks.points_award.delay") as queued,
        django_capture_on_commit_callbacks(execute=True),
    ):
        services.response_record(
            actor=marketer, member=guest, kind=Response.Kind.CHECKIN
        )
    queued.assert_called_once_with(point_sources.EVENT_ATTENDED, [member.pk])
    assert points_award(source="event_attended", customer_ids=[member.pk]) == 1
    assert points_award(source="event_attended", customer_ids=[member.pk]) == 0
    assert ClubMember.objects.get(customer=member).balance == 50


def test_a_prospect_earns_no_points(own_customer, marketer, project, rules):
    campaign = make_campaign(marketer, project, invite_email=False, invite_sms=False)
    services.campaign_move(actor=marketer, campaign=campaign, status="running")
    guest = CampaignMember.objects.create(campaign=campaign, customer=own_customer)
    services.response_record(actor=marketer, member=guest, kind=Response.Kind.CHECKIN)
    assert points_sweep()["event_attended"] == 0
    assert not PointEntry.objects.exists()


def test_an_inactive_rule_earns_nothing_and_a_changed_amount_applies_from_then_on(
    member, marketer, project, rules
):
    rules["event_attended"].is_active = False
    rules["event_attended"].save()
    campaign = make_campaign(marketer, project, invite_email=False, invite_sms=False)
    services.campaign_move(actor=marketer, campaign=campaign, status="running")
    guest = CampaignMember.objects.create(campaign=campaign, customer=member)
    services.response_record(actor=marketer, member=guest, kind=Response.Kind.CHECKIN)
    assert "event_attended" not in points_sweep()
    PointRule.objects.filter(pk=rules["event_attended"].pk).update(
        is_active=True, points=80
    )
    assert points_sweep()["event_attended"] == 1
    assert PointEntry.objects.get().points == 80


@pytest.mark.unaudited
def test_each_full_year_of_ownership_earns_points_once(
    member, consultant, project, rules
):
    deal = Opportunity.objects.create(
        customer=member,
        project=project,
        consultant=consultant,
        stage=Opportunity.Stage.CONTRACTED,
    )
    StageChange.objects.create(
        opportunity=deal,
        from_stage="subscribed",
        to_stage="contracted",
        changed_at=timezone.now() - timedelta(days=2 * 365 + 30),
    )
    assert points_award(source="ownership_year") == 2
    assert points_award(source="ownership_year") == 0
    assert sorted(PointEntry.objects.values_list("key", flat=True)) == [
        f"ownership:{deal.pk}:1",
        f"ownership:{deal.pk}:2",
    ]
    # The hourly job looks only at anniversaries since its previous run.
    assert points_award(source="ownership_year", since=timezone.now()) == 0


def test_service_registers_its_survey_source_through_marketings_registry():
    import ast
    from pathlib import Path

    source = point_source("survey_answered")
    assert source is not None and source.occurrences.__module__ == "service.points"
    # The club's own modules know nothing of service: the source is registered.
    for name in ("points.py", "point_sources.py", "services/club.py"):
        tree = ast.parse((Path("marketing") / name).read_text())
        imported = [
            node.module or ""
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
        ]
        assert not [m for m in imported if m.startswith("service")], name


def test_the_hourly_job_runs_once_an_hour_and_enrols_every_member(
    member, own_customer, rules
):
    from crm_site.jobs import job_run
    from marketing.services.club import SWEEP_JOB

    assert job_run(SWEEP_JOB) is not None
    assert job_run(SWEEP_JOB) is None
    assert list(ClubMember.objects.values_list("customer_id", flat=True)) == [member.pk]
    assert "event_attended: 0" in sweep_job(now=timezone.now())


# Levels --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("balance", "level"),
    [
        (0, "普卡"),
        (99, "普卡"),
        (100, "银卡"),
        (499, "银卡"),
        (500, "金卡"),
        (9999, "金卡"),
    ],
)
def test_the_level_is_the_highest_whose_minimum_the_balance_reaches(
    levels, balance, level
):
    assert level_for(balance, club_levels()).name == level


def test_below_the_lowest_level_there_is_none(db):
    ClubLevel.objects.create(name="银卡", min_points=100)
    assert level_for(99, club_levels()) is None


# Staff pages ---------------------------------------------------------------------------


LIST = reverse("marketing:club-members")


def _consenting_member(**fields):
    return CustomerFactory(stage="owner", consent_sms=True, **fields)


def test_the_members_list_filters_by_level(client, marketer, levels):
    gold, silver = (
        _consenting_member(name="金卡业主"),
        _consenting_member(name="银卡业主"),
    )
    members_enrol()
    _correct(marketer, gold, points=600)
    _correct(marketer, silver, points=150)
    client.force_login(marketer)
    everyone = client.get(LIST).content.decode()
    assert "金卡业主" in everyone and "银卡业主" in everyone
    only_silver = client.get(LIST, {"level": levels[1].pk}).content.decode()
    assert "银卡业主" in only_silver and "金卡业主" not in only_silver
    # A level that is gone falls back to every member, with the field's error.
    assert client.get(LIST, {"level": 999999}).status_code == 200


def test_the_members_list_shows_only_customers_the_user_may_see(client, marketer):
    _consenting_member(name="同意营销")
    CustomerFactory(stage="owner", consent_sms=False, name="未同意营销")
    members_enrol()
    client.force_login(marketer)
    body = client.get(LIST).content.decode()
    assert "同意营销" in body and "未同意营销" not in body


def test_the_members_list_queries_do_not_grow_with_members(client, marketer, levels):
    client.force_login(marketer)

    def grow():
        for _ in range(5):
            _correct(marketer, _consenting_member(), points=200)

    _correct(marketer, _consenting_member(), points=10)
    assert_queries_do_not_grow(lambda: client.get(LIST), grow, at_most=12)


def test_the_ledger_page_queries_do_not_grow_with_entries(client, marketer, levels):
    owner = _consenting_member()
    _correct(marketer, owner)
    client.force_login(marketer)
    url = reverse("marketing:club-member", args=[owner.pk])

    def grow():
        for n in range(5):
            _correct(marketer, owner, points=n + 1)

    assert_queries_do_not_grow(lambda: client.get(url), grow, at_most=14)


def test_marketing_corrects_points_on_the_ledger_page(client, marketer, levels):
    owner = _consenting_member()
    members_enrol()
    client.force_login(marketer)
    url = reverse("marketing:club-correct", args=[owner.pk])
    response = client.post(url, {"points": "150", "reason": "活动补发"})
    assert response.status_code == 302
    assert ClubMember.objects.get(customer=owner).balance == 150
    page = client.get(reverse("marketing:club-member", args=[owner.pk]))
    assert "活动补发" in page.content.decode() and "银卡" in page.content.decode()


@pytest.mark.parametrize(
    "data", [{"points": "0", "reason": "x"}, {"points": "5", "reason": ""}, {}]
)
def test_a_bad_correction_is_refused_and_nothing_is_saved(client, marketer, data):
    owner = _consenting_member()
    members_enrol()
    client.force_login(marketer)
    response = client.post(reverse("marketing:club-correct", args=[owner.pk]), data)
    assert response.status_code == 400
    assert not PointEntry.objects.exists()


def test_a_role_without_the_right_cannot_correct_and_an_outsider_sees_nothing(
    client, executive, outsider, consultant, marketer
):
    owner = _consenting_member()
    members_enrol()
    correct = reverse("marketing:club-correct", args=[owner.pk])
    for user in (executive, outsider, consultant):
        client.force_login(user)
        assert client.post(correct, {"points": "5", "reason": "x"}).status_code == 403
    client.force_login(outsider)
    assert client.get(LIST).status_code == 403
    assert not PointEntry.objects.exists()


def test_a_member_outside_the_users_scope_is_not_found(client, marketer):
    hidden = CustomerFactory(stage="owner", consent_sms=False)
    members_enrol()
    client.force_login(marketer)
    assert (
        client.get(reverse("marketing:club-member", args=[hidden.pk])).status_code
        == 404
    )
    response = client.post(
        reverse("marketing:club-correct", args=[hidden.pk]),
        {"points": "5", "reason": "x"},
    )
    assert response.status_code == 404
    assert not PointEntry.objects.exists()


def test_the_customer_page_shows_the_club_card(client, service_agent, marketer, levels):
    owner = _consenting_member()
    _correct(marketer, owner, points=120, reason="开卡礼")
    client.force_login(service_agent)
    body = customer_page(client, owner)
    assert 'data-testid="customer-club"' in body
    assert "银卡" in body and "120" in body and "开卡礼" in body


# Club events ---------------------------------------------------------------------------


def test_a_club_event_invites_and_signs_up_only_members_of_its_level(
    marketer, project, levels
):
    from marketing.models import Segment

    segment = Segment.objects.create(name="业主", criteria={"stage": "owner"})
    silver, basic = _consenting_member(), _consenting_member()
    members_enrol()
    _correct(marketer, silver, points=150)
    campaign = make_campaign(
        marketer,
        project,
        segment,
        min_level=levels[1],
        invite_email=False,
        invite_sms=False,
    )
    services.campaign_move(actor=marketer, campaign=campaign, status="running")
    assert list(campaign.members.values_list("customer_id", flat=True)) == [silver.pk]
    # Points taken away after the start: the sign-up is refused.
    late = CampaignMember.objects.create(campaign=campaign, customer=basic)
    with pytest.raises(services.ResponseRefused):
        services.response_record(actor=None, member=late, kind=Response.Kind.SIGNUP)
    member = campaign.members.get(customer=silver)
    services.response_record(actor=None, member=member, kind=Response.Kind.SIGNUP)


def test_only_an_event_can_be_kept_to_club_members(client, marketer, project, levels):
    client.force_login(marketer)
    today = timezone.localdate()
    response = client.post(
        reverse("marketing:campaign-create"),
        {
            "name": "网络广告",
            "kind": Campaign.Kind.WEB,
            "project": project.pk,
            "starts_on": today.isoformat(),
            "ends_on": today.isoformat(),
            "budget": "0",
            "min_level": levels[1].pk,
        },
    )
    assert response.status_code == 200 and not Campaign.objects.exists()


def test_administrators_set_levels_and_rules_in_the_admin(client, administrator):
    client.force_login(administrator)
    add_rule = client.get(reverse("admin:marketing_pointrule_add")).content.decode()
    for source in ("referral_contract", "event_attended", "survey_answered"):
        assert f'value="{source}"' in add_rule
    response = client.post(
        reverse("admin:marketing_pointrule_add"),
        {"source": "ownership_year", "points": "200", "is_active": "on"},
    )
    assert response.status_code == 302
    assert PointRule.objects.get().points == 200
    response = client.post(
        reverse("admin:marketing_clublevel_add"),
        {"name": "金卡", "min_points": "2000", "benefits": "物业费九折", "order": "3"},
    )
    assert response.status_code == 302
    assert ClubLevel.objects.get().benefit_lines == ["物业费九折"]
