"""Marketing's section of the managers' overview (crm_site.overview): the campaigns
running during the period, ranked by the value they contracted."""

from __future__ import annotations

from datetime import date

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from crm_site import overview
from marketing.models import Campaign
from marketing.selectors import campaign_returns

TOP_CAMPAIGNS = 5


def top_campaigns(scope: overview.Scope, start: date, end: date) -> list[dict]:
    campaigns = Campaign.objects.exclude(status=Campaign.Status.CANCELLED).filter(
        starts_on__lte=end, ends_on__gte=start
    )
    if scope.project_id is not None:
        campaigns = campaigns.filter(project_id=scope.project_id)
    campaigns = list(campaigns.only("id", "name").order_by("-starts_on", "-id")[:200])
    figures = campaign_returns(campaign_ids=[c.pk for c in campaigns])
    ranked = sorted(
        campaigns,
        key=lambda c: (figures[c.pk].contracted_value, figures[c.pk].responses),
        reverse=True,
    )[:TOP_CAMPAIGNS]
    return [
        {
            "name": c.name,
            "url": reverse("marketing:campaign-detail", args=[c.pk]),
            "figures": figures[c.pk],
        }
        for c in ranked
    ]


def register() -> None:
    overview.register(
        overview.Section(
            key="marketing",
            label=_("Top campaigns"),
            permission="marketing.use_marketing",
            order=30,
            template="marketing/_overview_campaigns.html",
            extra=top_campaigns,
        )
    )
