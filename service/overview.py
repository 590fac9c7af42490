"""Service's section of the managers' overview (crm_site.overview): requests received
in the period, open and overdue now, and the satisfaction index of the period, each
with the list behind it, built from the same querysets as the figure."""

from __future__ import annotations

from datetime import date, datetime
from urllib.parse import urlencode

from django.db.models import Count, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm_site import overview
from service.models import OwnerLetter, ServiceRequest, SurveyResponse, overdue_q
from service.surveys import satisfaction_index_for


def requests_of(project_id: int | None) -> QuerySet[ServiceRequest]:
    qs = ServiceRequest.objects.all()
    return qs.filter(unit__building__project_id=project_id) if project_id else qs


def answers_in(
    project_id: int | None, since: datetime, until: datetime
) -> QuerySet[SurveyResponse]:
    answers = SurveyResponse.objects.filter(
        submitted_at__gte=since, submitted_at__lt=until
    )
    return answers.filter(project_id=project_id) if project_id else answers


def compute(scope: overview.Scope, first: date, stop: date, keys: set[str]) -> dict:
    since, until = overview.moment(first), overview.moment(stop)
    result = {}
    if "service.received" in keys:
        result["service.received"] = (
            requests_of(scope.project_id)
            .filter(received_at__gte=since, received_at__lt=until)
            .count()
        )
    if "service.satisfaction" in keys:
        # One query: the mean of the answers' indices (None without answers).
        result["service.satisfaction"] = satisfaction_index_for(
            answers_in(scope.project_id, since, until)
        )
    return result


def current(scope: overview.Scope) -> dict:
    return {
        f"service.{name}": value
        for name, value in requests_of(scope.project_id)
        .filter(status__in=ServiceRequest.OPEN)
        .aggregate(
            open=Count("id"),
            overdue=Count("id", filter=overdue_q(timezone.now())),
        )
        .items()
    }


def _url(name: str, **params) -> str:
    query = urlencode({k: v for k, v in params.items() if v not in ("", None)})
    return f"{reverse(name)}?{query}" if query else reverse(name)


def links(scope: overview.Scope, start: date, end: date) -> dict[str, str]:
    project = scope.project_id
    window = {"start": start.isoformat(), "end": end.isoformat()}
    return {
        "service.received": _url(
            "service:request-list", view="all", project=project, **window
        ),
        "service.open": _url("service:request-list", view="open", project=project),
        "service.overdue": _url(
            "service:request-list", view="overdue", project=project
        ),
        "service.satisfaction": _url(
            "service:survey-results", project=project, **window
        ),
    }


# The GM mailbox's figures: a section of their own, for those who see the mailbox.


def letters_compute(
    scope: overview.Scope, first: date, stop: date, keys: set[str]
) -> dict:
    if "service.letters_received" not in keys:
        return {}
    letters = OwnerLetter.objects.filter(
        written_at__gte=overview.moment(first), written_at__lt=overview.moment(stop)
    )
    if scope.project_id:
        letters = letters.filter(project_id=scope.project_id)
    return {"service.letters_received": letters.count()}


def letters_current(scope: overview.Scope) -> dict:
    letters = OwnerLetter.objects.filter(
        answered_at__isnull=True, due_at__lt=timezone.now()
    )
    if scope.project_id:
        letters = letters.filter(project_id=scope.project_id)
    return {"service.letters_overdue": letters.count()}


def letters_links(scope: overview.Scope, start: date, end: date) -> dict[str, str]:
    project = scope.project_id
    window = {"start": start.isoformat(), "end": end.isoformat()}
    return {
        "service.letters_received": _url(
            "service:letter-list", view="all", project=project, **window
        ),
        "service.letters_overdue": _url(
            "service:letter-list", view="overdue", project=project
        ),
    }


def register() -> None:
    overview.register(
        overview.Section(
            key="gm_mailbox",
            label=_("GM mailbox"),
            permission="service.view_gm_mailbox",
            order=25,
            figures=(
                overview.Figure("service.letters_received", _("Letters received")),
                overview.Figure(
                    "service.letters_overdue",
                    _("Letters overdue"),
                    now=True,
                    lower_is_better=True,
                ),
            ),
            compute=letters_compute,
            current=letters_current,
            links=letters_links,
        )
    )
    overview.register(
        overview.Section(
            key="service",
            label=_("Service"),
            permission="service.view_service_desk",
            order=20,
            figures=(
                overview.Figure("service.received", _("Requests received")),
                overview.Figure("service.open", _("Open service requests"), now=True),
                overview.Figure(
                    "service.overdue",
                    _("Overdue service requests"),
                    now=True,
                    lower_is_better=True,
                ),
                overview.Figure(
                    "service.satisfaction",
                    _("Satisfaction index"),
                    additive=False,
                    decimals=1,
                ),
            ),
            compute=compute,
            current=current,
            links=links,
        )
    )
