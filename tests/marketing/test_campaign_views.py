from __future__ import annotations

from decimal import Decimal
from unittest import mock

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from marketing.models import Campaign, CampaignMember, CostLine, Invitation, Segment
from marketing.services.invitations import SIGNUP_SALT, public_token
from sales.models import Opportunity
from tests.factories import CustomerFactory
from tests.helpers import assert_queries_do_not_grow, customer_page
from tests.marketing.conftest import make_campaign

ALL_ROLES = [
    "consultant",
    "sales_manager",
    "service_agent",
    "service_manager",
    "marketer",
    "executive",
    "administrator",
    "outsider",
]
VIEWERS = {"marketer", "executive", "administrator"}
RUNNERS = {"marketer", "administrator"}


def viewing_urls(campaign) -> list[str]:
    return [
        reverse("marketing:home"),
        reverse("marketing:dashboard"),
        reverse("marketing:segment-list"),
        reverse("marketing:campaign-list"),
        reverse("marketing:campaign-detail", args=[campaign.pk]),
        reverse("marketing:campaign-members", args=[campaign.pk]),
        reverse("marketing:campaign-progress", args=[campaign.pk]),
    ]


def running_urls(campaign) -> list[str]:
    return [
        reverse("marketing:segment-create"),
        reverse("marketing:segment-count"),
        reverse("marketing:campaign-create"),
        reverse("marketing:campaign-edit", args=[campaign.pk]),
        reverse("marketing:campaign-checkin", args=[campaign.pk]),
    ]


@pytest.mark.parametrize("persona", ALL_ROLES, indirect=True)
def test_marketing_pages_permissions_for_every_role(client, persona, campaign):
    client.force_login(persona)
    for url in viewing_urls(campaign):
        expected = 200 if persona.username in VIEWERS | {"admin"} else 403
        if persona.username == "admin":
            expected = 200
        assert client.get(url).status_code == expected, url
    for url in running_urls(campaign):
        expected = 200 if persona.username in RUNNERS | {"admin"} else 403
        assert client.get(url).status_code == expected, url
    for name in ("campaign-send", "cost-line-add"):
        url = reverse(f"marketing:{name}", args=[campaign.pk])
        expected = 302 if persona.username in RUNNERS | {"admin"} else 403
        if name == "cost-line-add" and expected == 302:
            expected = 400  # an empty form
        assert client.post(url).status_code == expected, url


def test_anonymous_users_are_sent_to_log_in(client, campaign):
    response = client.get(reverse("marketing:campaign-list"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_segment_builder_counts_live_and_saves(client, marketer):
    CustomerFactory.create_batch(2, stage="owner")
    CustomerFactory(stage="prospect")
    client.force_login(marketer)
    response = client.get(reverse("marketing:segment-count"), {"stage": "owner"})
    assert response.status_code == 200
    assert 'data-testid="segment-count-value">2<' in response.content.decode()
    response = client.post(
        reverse("marketing:segment-create"), {"name": "业主", "stage": "owner"}
    )
    assert response.status_code == 302
    segment = Segment.objects.get()
    assert segment.criteria == {"stage": "owner"}
    response = client.get(reverse("marketing:segment-edit", args=[segment.pk]))
    assert response.context["count"] == 2


def test_segment_builder_refuses_bad_dates(client, marketer):
    client.force_login(marketer)
    response = client.post(
        reverse("marketing:segment-create"),
        {"name": "坏", "contact_after": "2026-05-01", "contact_before": "2026-01-01"},
    )
    assert response.status_code == 200
    assert "contact_before" in response.context["form"].errors
    assert not Segment.objects.exists()


def campaign_post(project, target, **overrides) -> dict:
    today = timezone.localdate()
    data = {
        "name": "周末暖场",
        "kind": "event",
        "project": project.pk,
        "segment": target.pk,
        "starts_on": today.isoformat(),
        "ends_on": today.isoformat(),
        "budget": "50000",
        "invite_email": "on",
        "email_subject": "周末暖场邀请",
        "message": "欢迎光临",
    }
    data.update(overrides)
    return data


def test_marketer_creates_and_edits_a_campaign(client, marketer, project, segment):
    client.force_login(marketer)
    response = client.post(
        reverse("marketing:campaign-create"), campaign_post(project, segment)
    )
    campaign = Campaign.objects.get()
    assert (
        response.status_code == 302
        and response["Location"] == campaign.get_absolute_url()
    )
    assert campaign.created_by == marketer and campaign.budget == Decimal("50000")
    response = client.post(
        reverse("marketing:campaign-edit", args=[campaign.pk]),
        campaign_post(project, segment, budget="60000"),
    )
    campaign.refresh_from_db()
    assert campaign.budget == Decimal("60000")


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"ends_on": "2000-01-01"}, "ends_on"),
        ({"email_subject": ""}, "email_subject"),
        ({"segment": ""}, "segment"),
        ({"budget": "-1"}, "budget"),
        ({"kind": "carrier_pigeon"}, "kind"),
    ],
)
def test_campaign_form_refuses_bad_input(
    client, marketer, project, segment, overrides, field
):
    client.force_login(marketer)
    response = client.post(
        reverse("marketing:campaign-create"),
        campaign_post(project, segment, **overrides),
    )
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not Campaign.objects.exists()


def test_cost_line_is_added_or_refused_with_a_message(client, marketer, campaign):
    client.force_login(marketer)
    url = reverse("marketing:cost-line-add", args=[campaign.pk])
    response = client.post(
        url, {"spent_on": "2026-11-01", "item": "场地", "amount": "0"}
    )
    assert response.status_code == 400
    assert "amount" in response.context["cost_form"].errors
    assert not CostLine.objects.exists()
    response = client.post(
        url, {"spent_on": "2026-11-01", "item": "场地", "amount": "800"}
    )
    assert response.status_code == 302
    assert CostLine.objects.get().amount == Decimal("800")


def test_start_send_and_progress(client, marketer, campaign, outboxes):
    CustomerFactory(email="a@example.com", consent_email=True)
    client.force_login(marketer)
    client.post(reverse("marketing:campaign-move", args=[campaign.pk, "running"]))
    assert CampaignMember.objects.filter(campaign=campaign).count() == 1
    with mock.patch("marketing.tasks.invitations_send.delay"):
        client.post(
            reverse("marketing:campaign-send", args=[campaign.pk]), {"confirmed": "1"}
        )
    response = client.get(reverse("marketing:campaign-progress", args=[campaign.pk]))
    assert "every 2s" in response.content.decode()
    from marketing.services import invitations_send

    invitations_send(campaign_id=campaign.pk)
    response = client.get(reverse("marketing:campaign-progress", args=[campaign.pk]))
    assert 'aria-valuenow="100"' in response.content.decode()
    assert "every 2s" not in response.content.decode()
    assert len(mail.outbox) == 1


def test_a_finished_campaign_cannot_be_edited_or_restarted(client, marketer, running):
    client.force_login(marketer)
    client.post(reverse("marketing:campaign-move", args=[running.pk, "finished"]))
    response = client.post(
        reverse("marketing:campaign-move", args=[running.pk, "running"])
    )
    assert response.status_code == 302
    running.refresh_from_db()
    assert running.status == "finished"
    response = client.get(reverse("marketing:campaign-edit", args=[running.pk]))
    assert response.status_code == 302


def test_checkin_page_checks_a_guest_in_by_code(client, marketer, running, consultant):
    member = CampaignMember.objects.create(
        campaign=running,
        customer=CustomerFactory(name="贵宾", assigned_consultant=consultant),
    )
    client.force_login(marketer)
    url = reverse("marketing:campaign-checkin", args=[running.pk])
    response = client.post(url, {"code": member.code}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "贵宾" in response.content.decode()
    assert 'data-testid="checkin-result"' in response.content.decode()
    response = client.post(url, {"code": "WRONG1"})
    assert response.status_code == 400
    assert 'data-testid="checkin-error"' in response.content.decode()


def test_public_signup_records_a_response_and_shows_the_code(
    client, marketer, campaign, outboxes
):
    from marketing.services import campaign_move, invitations_queue

    CustomerFactory(consent_sms=True)
    running = campaign_move(actor=marketer, campaign=campaign, status="running")
    with mock.patch("marketing.tasks.invitations_send.delay"):
        invitations_queue(actor=marketer, campaign=running)
    invitation = Invitation.objects.get()
    url = reverse(
        "marketing:public-signup", args=[public_token(invitation, SIGNUP_SALT)]
    )
    response = client.get(url)
    assert response.status_code == 200
    assert invitation.member.code_display in response.content.decode()
    assert "<svg" in response.content.decode()
    client.post(url)
    assert invitation.member.responses.get().kind == "signup"


def test_sales_manager_changes_the_campaign_of_a_deal(
    client, sales_manager, marketer, running, consultant, project
):
    deal = Opportunity.objects.create(
        customer=CustomerFactory(), project=project, consultant=consultant
    )
    url = reverse("marketing:deal-campaign", args=[deal.pk])
    client.force_login(marketer)
    assert client.get(url).status_code == 403
    client.force_login(sales_manager)
    assert client.get(url).status_code == 200
    response = client.post(url, {"campaign": running.pk})
    assert response.status_code == 302
    deal.refresh_from_db()
    assert deal.campaign == running


def test_deal_campaign_is_404_outside_the_managers_scope(
    client, sales_manager, far_consultant, project
):
    # Another team's deal at a project that team sells too: theirs to manage (a deal
    # at a project only this manager's team sells would be theirs, whoever opened it).
    project.teams.add(far_consultant.team)
    deal = Opportunity.objects.create(
        customer=CustomerFactory(), project=project, consultant=far_consultant
    )
    client.force_login(sales_manager)
    assert (
        client.get(reverse("marketing:deal-campaign", args=[deal.pk])).status_code
        == 404
    )


def test_campaign_list_and_dashboard_query_counts_do_not_grow(
    client, marketer, project, campaign
):
    client.force_login(marketer)

    def more():
        for i in range(5):
            campaign = make_campaign(marketer, project, name=f"活动{i}")
            CostLine.objects.create(
                campaign=campaign, spent_on=campaign.starts_on, item="x", amount=1
            )

    for name in (
        "marketing:campaign-list",
        "marketing:dashboard",
        "marketing:segment-list",
    ):
        url = reverse(name)
        assert_queries_do_not_grow(lambda url=url: client.get(url), more, at_most=18)


def test_campaign_detail_and_members_query_counts_do_not_grow(
    client, marketer, running
):
    client.force_login(marketer)

    def more():
        for _ in range(5):
            CampaignMember.objects.create(campaign=running, customer=CustomerFactory())

    for name in ("marketing:campaign-detail", "marketing:campaign-members"):
        url = reverse(name, args=[running.pk])
        assert_queries_do_not_grow(lambda url=url: client.get(url), more, at_most=16)


def test_dashboard_shows_the_referral_funnel(client, marketer):
    from customers.models import Interaction
    from customers.services import interaction_log
    from marketing.services.referrals import referral_create
    from tests.factories import CustomerFactory

    owner = CustomerFactory(stage="owner")
    friends = [CustomerFactory() for _ in range(4)]
    for friend in friends:
        referral_create(actor=marketer, referrer=owner, friend=friend, project=None)
    interaction_log(
        customer=friends[0],
        kind=Interaction.Kind.VISIT,
        summary="到访",
        actor=marketer,
    )
    client.force_login(marketer)
    page = client.get(reverse("marketing:dashboard")).content.decode()
    funnel = page.split('data-testid="referral-funnel"')[1].split("</table>")[0]
    assert ">4<" in funnel and ">1<" in funnel and "25%" in funnel


def test_the_customer_page_shows_the_customers_campaigns(
    client, consultant, marketer, running
):
    from customers.models import Customer

    member = CampaignMember.objects.filter(campaign=running).first()
    customer = member.customer if member else None
    if customer is None:
        customer = CustomerFactory(assigned_consultant=consultant)
        member = CampaignMember.objects.create(campaign=running, customer=customer)
    Customer.objects.filter(pk=customer.pk).update(assigned_consultant=consultant)
    from marketing.services import response_record

    response_record(actor=marketer, member=member, kind="checkin")
    client.force_login(consultant)
    page = customer_page(client, customer)
    panel = page.split('data-testid="customer-campaigns"')[1].split("</ul>")[0]
    assert running.name in panel and "已签到" in panel
    # Consultants may not open the campaign itself: no link.
    assert running.get_absolute_url() not in panel
    client.force_login(marketer)
    Customer.objects.filter(pk=customer.pk).update(consent_sms=True)
    page = customer_page(client, customer)
    assert running.get_absolute_url() in page
