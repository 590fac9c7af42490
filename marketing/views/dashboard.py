"""The marketing dashboard: return by campaign and by channel, cost per contract, and
the referral funnel."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from crm_site.permissions import see_required
from crm_site.replica import reads_from_replica
from marketing import selectors
from marketing.models import Campaign
from marketing.referrals import referral_funnel

DASHBOARD_CAMPAIGNS = 50


def _referral_steps() -> list[tuple[str, int, int | None]]:
    """The referral funnel (old owners bringing friends): each step with its count and
    its share of the referred friends, in percent."""
    funnel = referral_funnel()
    referred = funnel["referred"]
    steps = [
        (_("Friends referred"), referred),
        (_("Visited"), funnel["visited"]),
        (_("Subscribed"), funnel["subscribed"]),
        (_("Contracted"), funnel["contracted"]),
    ]
    return [
        (label, count, round(100 * count / referred) if referred else None)
        for label, count in steps
    ]


@see_required("marketing.use_marketing")
@reads_from_replica
def dashboard(request: HttpRequest) -> HttpResponse:
    campaigns = list(
        Campaign.objects.exclude(status=Campaign.Status.CANCELLED)
        .select_related("project")
        .order_by("-starts_on", "-id")[:DASHBOARD_CAMPAIGNS]
    )
    figures = selectors.campaign_returns(campaign_ids=[c.pk for c in campaigns])
    by_kind = selectors.returns_by_kind()
    total = selectors.CampaignReturn()
    for _label, value in by_kind:
        total.add(value)
    return render(
        request,
        "marketing/dashboard.html",
        {
            "rows": [(c, figures[c.pk]) for c in campaigns],
            "by_kind": by_kind,
            "by_source": selectors.contracted_value_by_source(),
            "total": total,
            "cancelled": selectors.cancelled_cost(),
            "referral_steps": _referral_steps(),
            "referral_rewards": referral_funnel(),
        },
    )
