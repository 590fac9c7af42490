from __future__ import annotations

from decimal import Decimal
from unittest import mock

import pytest
from django.utils import translation

from crm_site.models import Notification
from customers.models import Interaction
from marketing import services
from marketing.codes import display_code, normalize_code
from marketing.models import Campaign, CampaignMember, CostLine, Response
from marketing.selectors import campaign_returns
from sales.models import Opportunity, Registration
from sales.services import opportunity_open
from tests.factories import CustomerFactory
from tests.marketing.conftest import make_campaign


def test_typed_codes_are_normalised_and_bad_ones_refused():
    assert normalize_code("3f9a-2c71 b0d4") == "3F9A2C71B0D4"
    assert normalize_code("3F9A-2C71-BOD4") == "3F9A2C71B0D4"  # O typed for 0
    assert normalize_code("nope") is None
    assert normalize_code("3F9A2C71B0DZ") is None
    assert display_code("3F9A2C71B0D4") == "3F9A-2C71-B0D4"


def member_of(campaign, **customer_fields) -> CampaignMember:
    return CampaignMember.objects.create(
        campaign=campaign, customer=CustomerFactory(**customer_fields)
    )


def test_check_in_by_code_lands_on_the_timeline(running, marketer, consultant):
    member = member_of(running, assigned_consultant=consultant)
    response, created = services.checkin_by_code(
        actor=marketer, campaign=running, code=member.code
    )
    assert created and response.kind == "checkin"
    entry = Interaction.objects.get(customer=member.customer, kind="event")
    assert entry.event == "marketing.checked_in"
    with translation.override("en"):
        assert entry.text == f"Checked in at {running.name}"
    member.customer.refresh_from_db()
    assert member.customer.last_contact_at is not None
    # A second check-in with the same code changes nothing.
    _again, created = services.checkin_by_code(
        actor=marketer, campaign=running, code=member.code.lower()
    )
    assert not created
    assert Response.objects.count() == 1
    # An owned customer is no lead.
    assert response.lead_consultant is None
    assert not Opportunity.objects.exists()


def test_check_in_refuses_an_unknown_code_or_another_campaigns_guest(
    running, marketer, project
):
    other = make_campaign(marketer, project, name="别的活动")
    stranger = member_of(other)
    for code in ("ZZZZZZ", stranger.code, "12"):
        with pytest.raises(services.ResponseRefused):
            services.checkin_by_code(actor=marketer, campaign=running, code=code)


def test_check_in_refuses_a_campaign_not_running(campaign, marketer):
    member = member_of(campaign)
    with pytest.raises(services.ResponseRefused):
        services.checkin_by_code(actor=marketer, campaign=campaign, code=member.code)


def test_unowned_responders_become_leads_round_robin(
    running, marketer, consultant, other_consultant, far_consultant
):
    guests = [member_of(running, assigned_consultant=None) for _ in range(3)]
    leads = []
    for guest in guests:
        response, _created = services.checkin_by_code(
            actor=marketer, campaign=running, code=guest.code
        )
        leads.append(response.lead_consultant)
    # The project's team is consultant and other_consultant (far_consultant is not).
    assert leads == [consultant, other_consultant, consultant]
    first = guests[0].customer
    first.refresh_from_db()
    assert first.assigned_consultant == consultant
    assert Registration.objects.get(customer=first).consultant == consultant
    deal = Opportunity.objects.get(customer=first)
    assert deal.consultant == consultant and deal.stage == "new"
    assert deal.campaign == running  # credited to the campaign that brought it
    assert Notification.objects.filter(user=consultant).count() == 2
    assert Notification.objects.filter(user=other_consultant).count() == 1


def test_a_responder_stays_in_the_pool_when_the_team_has_no_consultant(
    marketer, segment
):
    from sales.models import Project

    lonely = Project.objects.create(name="无人项目")
    campaign = make_campaign(marketer, lonely, segment)
    services.campaign_move(actor=marketer, campaign=campaign, status="running")
    guest = member_of(campaign, assigned_consultant=None)
    response, _ = services.checkin_by_code(
        actor=marketer, campaign=campaign, code=guest.code
    )
    guest.customer.refresh_from_db()
    assert response.lead_consultant is None
    assert guest.customer.assigned_consultant is None
    assert Notification.objects.filter(user=marketer).count() == 1


def test_a_deal_opened_later_is_credited_to_the_latest_response(
    running, marketer, consultant, project
):
    member = member_of(running, assigned_consultant=consultant)
    services.checkin_by_code(actor=marketer, campaign=running, code=member.code)
    deal = opportunity_open(actor=consultant, customer=member.customer, project=project)
    assert deal.campaign == running
    plain = opportunity_open(
        actor=consultant, customer=CustomerFactory(), project=project
    )
    assert plain.campaign is None


def test_return_arithmetic(running, marketer, consultant, project):
    members = [member_of(running, assigned_consultant=consultant) for _ in range(4)]
    for member in members[:2]:
        services.checkin_by_code(actor=marketer, campaign=running, code=member.code)
    services.response_record(actor=None, member=members[2], kind="signup")
    stages = ["contracted", "paid", "subscribed"]
    prices = [Decimal("2000000"), Decimal("1000000"), Decimal("900000")]
    for member, stage, price in zip(members[:3], stages, prices, strict=True):
        Opportunity.objects.create(
            customer=member.customer,
            project=project,
            consultant=consultant,
            campaign=running,
            stage=stage,
            agreed_price=price,
        )
    for amount in ("10000", "20000"):
        CostLine.objects.create(
            campaign=running,
            spent_on=running.starts_on,
            item="x",
            amount=Decimal(amount),
        )
    figures = campaign_returns(campaign_ids=[running.pk])[running.pk]
    assert (figures.members, figures.responses, figures.visits) == (4, 3, 2)
    assert (figures.subscriptions, figures.contracts) == (3, 2)
    assert figures.contracted_value == Decimal("3000000")
    assert figures.cost == Decimal("30000")
    assert figures.cost_per_visit == Decimal("15000.00")
    assert figures.cost_per_contract == Decimal("15000.00")
    assert figures.return_ratio == Decimal("100.00")


def test_return_of_a_campaign_without_cost_or_visits_is_undefined(campaign):
    figures = campaign_returns(campaign_ids=[campaign.pk])[campaign.pk]
    assert figures.return_ratio is None
    assert figures.cost_per_visit is None and figures.cost_per_contract is None


def test_campaign_returns_takes_four_queries_for_any_number_of_campaigns(
    marketer, project, django_assert_num_queries
):
    ids = [make_campaign(marketer, project, name=f"活动{i}").pk for i in range(5)]
    with django_assert_num_queries(4):
        campaign_returns(campaign_ids=ids)


def test_deal_campaign_set_is_audited(
    running, marketer, sales_manager, consultant, project
):
    from crm_site.models import AuditEntry

    deal = Opportunity.objects.create(
        customer=CustomerFactory(), project=project, consultant=consultant
    )
    services.deal_campaign_set(actor=sales_manager, deal=deal, campaign=running)
    deal.refresh_from_db()
    assert deal.campaign == running
    entry = AuditEntry.objects.filter(object_id=deal.pk, changes__has_key="campaign")
    assert entry.count() == 1
    services.deal_campaign_set(actor=sales_manager, deal=deal, campaign=running)
    assert entry.count() == 1


def test_response_lead_assignment_is_not_repeated(running, marketer, consultant):
    guest = member_of(running, assigned_consultant=None)
    with mock.patch(
        "marketing.services.responses.lead_assign", wraps=services.lead_assign
    ) as assign:
        services.checkin_by_code(actor=marketer, campaign=running, code=guest.code)
        services.checkin_by_code(actor=marketer, campaign=running, code=guest.code)
    assert assign.call_count == 1


def test_return_by_channel_sums_every_campaign_but_the_cancelled(
    marketer, consultant, project
):
    from marketing.selectors import returns_by_kind

    for name, kind, cost, status in (
        ("短信一", "sms", "1000", "planned"),
        ("短信二", "sms", "3000", "planned"),
        ("活动", "event", "5000", "planned"),
        ("取消的", "sms", "9000", "cancelled"),
    ):
        campaign = make_campaign(marketer, project, name=name, kind=kind)
        CostLine.objects.create(
            campaign=campaign, spent_on=campaign.starts_on, item="x", amount=cost
        )
        if status == "cancelled":
            services.campaign_move(actor=marketer, campaign=campaign, status=status)
    Opportunity.objects.create(
        customer=CustomerFactory(),
        project=project,
        consultant=consultant,
        campaign=Campaign.objects.get(name="短信一"),
        stage="paid",
        agreed_price=Decimal("800000"),
    )
    by_kind = {str(label): figures for label, figures in returns_by_kind()}
    sms = by_kind[str(Campaign.Kind.SMS.label)]
    event = by_kind[str(Campaign.Kind.EVENT.label)]
    assert sms.cost == Decimal("4000") and sms.contracts == 1
    assert sms.return_ratio == Decimal("200.00")
    assert event.cost == Decimal("5000") and event.return_ratio == Decimal("0.00")


def test_the_return_leaves_cancelled_campaigns_out_of_every_figure_and_shows_their_cost_apart(
    client, marketer, consultant, project
):
    from django.urls import reverse

    kept = make_campaign(marketer, project, name="开盘", kind="sms")
    dropped = make_campaign(marketer, project, name="取消的", kind="sms")
    for campaign, cost in ((kept, "1000"), (dropped, "9000")):
        CostLine.objects.create(
            campaign=campaign, spent_on=campaign.starts_on, item="x", amount=cost
        )
        Opportunity.objects.create(
            customer=CustomerFactory(source="web"),
            project=project,
            consultant=consultant,
            campaign=campaign,
            stage="contracted",
            agreed_price=Decimal("800000"),
        )
    services.campaign_move(actor=marketer, campaign=dropped, status="cancelled")
    client.force_login(marketer)
    context = client.get(reverse("marketing:dashboard")).context
    assert context["total"].cost == Decimal("1000")
    assert context["total"].contracts == 1
    # The buyers by source are those of the same campaigns as the cost.
    assert [(n, value) for _label, n, value in context["by_source"]] == [
        (1, Decimal("800000"))
    ]
    assert context["cancelled"].cost == Decimal("9000")
    assert context["cancelled"].campaigns == 1
    page = client.get(
        reverse("marketing:dashboard"), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert 'data-testid="cancelled-cost"' in page
