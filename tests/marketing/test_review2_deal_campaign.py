"""A deal is credited only to a campaign that may bring buyers to its project: not a
cancelled campaign, not another project's (that would inflate the other's return)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from marketing import services
from marketing.models import Campaign
from sales.models import Opportunity, Project
from tests.factories import CustomerFactory
from tests.marketing.conftest import make_campaign


@pytest.fixture
def other_project(db) -> Project:
    return Project.objects.create(name="安居·江南府")


@pytest.fixture
def deal(project, consultant) -> Opportunity:
    return Opportunity.objects.create(
        customer=CustomerFactory(), project=project, consultant=consultant
    )


@pytest.fixture
def elsewhere(marketer, other_project) -> Campaign:
    return make_campaign(marketer, other_project, name="江南府样板间开放")


@pytest.fixture
def cancelled(marketer, project) -> Campaign:
    campaign = make_campaign(marketer, project, name="取消的品鉴会")
    return services.campaign_move(
        actor=marketer, campaign=campaign, status=Campaign.Status.CANCELLED
    )


def test_deal_campaign_form_offers_only_the_deals_projects_live_campaigns(
    client, sales_manager, deal, running, elsewhere, cancelled
):
    client.force_login(sales_manager)
    response = client.get(reverse("marketing:deal-campaign", args=[deal.pk]))
    choices = list(response.context["form"].fields["campaign"].queryset)
    assert choices == [running]


@pytest.mark.parametrize("which", ["elsewhere", "cancelled"])
def test_deal_campaign_post_refuses_another_projects_or_cancelled_campaign(
    client, request, sales_manager, deal, which
):
    campaign = request.getfixturevalue(which)
    client.force_login(sales_manager)
    response = client.post(
        reverse("marketing:deal-campaign", args=[deal.pk]), {"campaign": campaign.pk}
    )
    assert response.status_code == 200
    assert response.context["form"].errors
    deal.refresh_from_db()
    assert deal.campaign_id is None


@pytest.mark.parametrize("which", ["elsewhere", "cancelled"])
def test_deal_campaign_set_refuses_another_projects_or_cancelled_campaign(
    request, sales_manager, deal, which
):
    campaign = request.getfixturevalue(which)
    with pytest.raises(ValidationError):
        services.deal_campaign_set(actor=sales_manager, deal=deal, campaign=campaign)
    deal.refresh_from_db()
    assert deal.campaign_id is None


def test_deal_campaign_set_still_clears_the_campaign(sales_manager, deal, running):
    services.deal_campaign_set(actor=sales_manager, deal=deal, campaign=running)
    services.deal_campaign_set(actor=sales_manager, deal=deal, campaign=None)
    deal.refresh_from_db()
    assert deal.campaign_id is None


def test_a_deal_already_credited_to_a_cancelled_campaign_keeps_it_when_saved_unchanged(
    client, sales_manager, deal, cancelled
):
    """The credit was given before the campaign was cancelled: the form shows it
    chosen, and saving the form as it opened keeps it (it would silently drop it)."""
    Opportunity.objects.filter(pk=deal.pk).update(campaign=cancelled)
    client.force_login(sales_manager)
    url = reverse("marketing:deal-campaign", args=[deal.pk])
    form = client.get(url).context["form"]
    assert cancelled in form.fields["campaign"].queryset
    response = client.post(url, {"campaign": cancelled.pk})
    assert response.status_code == 302
    deal.refresh_from_db()
    assert deal.campaign == cancelled
