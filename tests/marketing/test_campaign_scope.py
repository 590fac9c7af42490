"""Who a campaign's pages name: members are copied with the scope of whoever
started the campaign (an administrator sees everyone), but every page and the API
list only the customers the reader may see (marketing: those who consented to a
marketing channel)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm_site.api.scopes import Scope
from marketing import services
from marketing.models import CampaignMember, Response
from sales.models import Opportunity
from tests.factories import CustomerFactory
from tests.helpers import assert_queries_do_not_grow

SEEN = "同意营销"
HIDDEN = "从未同意"


@pytest.fixture
def started_by_admin(campaign, administrator, consultant):
    """A campaign an administrator started: one member marketing may see, one it may
    not; both signed up, and each has a deal credited to the campaign."""
    seen = CustomerFactory(name=SEEN, consent_sms=True, assigned_consultant=consultant)
    hidden = CustomerFactory(
        name=HIDDEN, consent_sms=False, assigned_consultant=consultant
    )
    services.campaign_move(actor=administrator, campaign=campaign, status="running")
    for customer in (seen, hidden):
        member = CampaignMember.objects.get(campaign=campaign, customer=customer)
        services.response_record(
            actor=administrator, member=member, kind=Response.Kind.SIGNUP
        )
        Opportunity.objects.create(
            customer=customer,
            project=campaign.project,
            consultant=consultant,
            campaign=campaign,
        )
    return campaign


def test_the_members_page_lists_only_customers_marketing_may_see(
    client, marketer, started_by_admin
):
    assert started_by_admin.members.count() == 2
    client.force_login(marketer)
    page = client.get(reverse("marketing:campaign-members", args=[started_by_admin.pk]))
    html = page.content.decode()
    assert SEEN in html and HIDDEN not in html


def test_the_administrator_still_sees_every_member(
    client, administrator, started_by_admin
):
    client.force_login(administrator)
    page = client.get(reverse("marketing:campaign-members", args=[started_by_admin.pk]))
    html = page.content.decode()
    assert SEEN in html and HIDDEN in html


def test_the_campaign_page_lists_only_responses_and_deals_marketing_may_see(
    client, marketer, started_by_admin
):
    client.force_login(marketer)
    page = client.get(reverse("marketing:campaign-detail", args=[started_by_admin.pk]))
    assert page.status_code == 200
    assert [r.customer.name for r in page.context["responses"]] == [SEEN]
    assert [d.customer.name for d in page.context["deals"]] == [SEEN]
    assert HIDDEN not in page.content.decode()


def test_the_responses_list_names_only_customers_marketing_may_see(
    client, marketer, started_by_admin
):
    client.force_login(marketer)
    page = client.get(reverse("marketing:response-list"))
    assert page.status_code == 200
    html = page.content.decode()
    assert SEEN in html and HIDDEN not in html


def test_the_apis_sign_ups_are_those_the_keys_user_may_see(
    api_client, marketer, started_by_admin
):
    client = api_client(marketer, Scope.CAMPAIGNS_READ)
    response = client.get(f"/api/v1/campaigns/{started_by_admin.pk}/sign-ups/")
    assert response.status_code == 200
    assert [row["name"] for row in response.json()["results"]] == [SEEN]


def test_scoped_members_page_query_count_does_not_grow(
    client, marketer, started_by_admin
):
    client.force_login(marketer)

    def more():
        for consented in (True, False, True, False):
            CampaignMember.objects.create(
                campaign=started_by_admin,
                customer=CustomerFactory(consent_sms=consented),
            )

    for name in ("marketing:campaign-detail", "marketing:campaign-members"):
        url = reverse(name, args=[started_by_admin.pk])
        assert_queries_do_not_grow(lambda url=url: client.get(url), more, at_most=16)
