"""The marketing dashboard: return by campaign and by channel, cost per contract, and
the referral funnel when the referrals module is installed."""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module

from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from marketing import selectors
from marketing.models import Campaign

DASHBOARD_CAMPAIGNS = 50


def _referral_funnel() -> dict | None:
    """marketing.referrals.referral_funnel(), if that module exists (another part of
    the product). It may return an object naming its own template, a mapping of
    step → count, or (step, count) pairs; the dashboard's slot shows any of them."""
    try:
        module = import_module("marketing.referrals")
    except ImportError:
        return None
    funnel = getattr(module, "referral_funnel", None)
    result = funnel() if callable(funnel) else None
    if result is None:
        return None
    template = getattr(result, "template", None)
    if template:
        return {"template": template, "funnel": result}
    steps = getattr(result, "steps", result)
    rows = list(steps.items()) if isinstance(steps, Mapping) else list(steps)
    return {"rows": rows}


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
            "referral_funnel": _referral_funnel(),
        },
    )
