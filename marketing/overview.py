"""Marketing's section of the managers' overview (crm_site.overview): the campaigns
running during the period, ranked by the value they contracted."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from django.db.models import Count, Q, QuerySet
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from crm_site import overview
from marketing.models import Campaign, Response
from marketing.selectors import campaign_returns

TOP_CAMPAIGNS = 5


def responses_in(
    *, project_id: int | None, first: date, stop: date, kind: str = ""
) -> QuerySet[Response]:
    """Sign-ups and check-ins of the days first <= day < stop (by the index on at)."""
    responses = Response.objects.filter(
        at__gte=overview.moment(first), at__lt=overview.moment(stop)
    )
    if kind:
        responses = responses.filter(kind=kind)
    if project_id is not None:
        responses = responses.filter(campaign__project_id=project_id)
    return responses


def compute(scope: overview.Scope, first: date, stop: date, keys: set[str]) -> dict:
    counts = responses_in(
        project_id=scope.project_id, first=first, stop=stop
    ).aggregate(
        responses=Count("id"),
        checkins=Count("id", filter=Q(kind=Response.Kind.CHECKIN)),
    )
    return {f"marketing.{name}": value for name, value in counts.items()}


def links(scope: overview.Scope, start: date, end: date) -> dict[str, str]:
    params = {"start": start.isoformat(), "end": end.isoformat()}
    if scope.project_id:
        params["project"] = scope.project_id
    url = reverse("marketing:response-list")
    return {
        "marketing.responses": f"{url}?{urlencode(params)}",
        "marketing.checkins": f"{url}?{urlencode({**params, 'kind': 'checkin'})}",
    }


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
            label=_("Marketing"),
            permission="marketing.use_marketing",
            order=30,
            figures=(
                overview.Figure("marketing.responses", _("Campaign responses")),
                overview.Figure("marketing.checkins", _("Event check-ins")),
            ),
            compute=compute,
            links=links,
            template="marketing/_overview_campaigns.html",
            extra=top_campaigns,
        )
    )
