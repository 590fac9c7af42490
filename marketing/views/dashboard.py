"""The marketing dashboard: return by campaign and by channel, cost per contract, and
the referral funnel when the referrals module is installed."""

from __future__ import annotations

from importlib import import_module

from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from marketing import selectors
from marketing.models import Campaign

DASHBOARD_CAMPAIGNS = 50


def _referral_funnel(user) -> object | None:
    """marketing.referrals.referral_funnel(), if that module exists (another part of
    the product); the dashboard shows it in its slot, or nothing."""
    try:
        module = import_module("marketing.referrals")
    except ImportError:
        return None
    funnel = getattr(module, "referral_funnel", None)
    return funnel() if funnel else None


@permission_required("marketing.use_marketing", raise_exception=True)
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
            "referral_funnel": _referral_funnel(request.user),
        },
    )
