"""Satisfaction surveys: the owners' questionnaire (no login) and the results page."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from crm_site.overview import moment
from crm_site.pagination import paginate
from crm_site.permissions import public, see_required
from crm_site.validation import parse_date, parse_id
from sales.models import Project
from service import surveys
from service.forms_handover import SurveyForm
from service.models import SurveyInvitation, SurveyResponse
from service.overview import answers_in
from service.views.public import invalid_link, public_message


@public("the customer's signed survey link")
@never_cache
def survey_answer(request: HttpRequest, token: str) -> HttpResponse:
    """The questionnaire an owner opens from the link in their SMS or e-mail."""
    try:
        invitation = surveys.invitation_from_token(token)
    except signing.SignatureExpired:
        return public_message(
            request,
            "expired",
            _("This link has expired"),
            _("Survey links work for a limited time. Thank you all the same!"),
            410,
        )
    except (signing.BadSignature, SurveyInvitation.DoesNotExist, ValueError):
        return invalid_link(request)
    if invitation.answered_at is not None:
        return _already_answered(request)
    form = SurveyForm(request.POST or None, questions=surveys.questions_of(invitation))
    if request.method == "POST" and form.is_valid():
        try:
            surveys.survey_submit(
                invitation=invitation,
                scores=form.scores(),
                comment=form.cleaned_data["comment"],
            )
        except surveys.AlreadyAnswered:
            return _already_answered(request)
        return redirect("service:survey-thanks")
    return render(
        request,
        "service/survey_form.html",
        {"form": form, "template": invitation.template},
    )


def _already_answered(request: HttpRequest) -> HttpResponse:
    return public_message(
        request,
        "answered",
        _("You have already answered"),
        _("We have your answer to this survey. Thank you!"),
        200,
    )


@public("the thank-you page after a survey")
def survey_thanks(request: HttpRequest) -> HttpResponse:
    return public_message(
        request,
        "thanks",
        _("Thank you!"),
        _("Your answer helps us serve you better."),
        200,
    )


@see_required("service.view_service_management")
def survey_results(request: HttpRequest) -> HttpResponse:
    """Satisfaction by project and month, and the latest comments."""
    rows = surveys.satisfaction_by_month(months=12)
    months = sorted({row["month"] for row in rows}, reverse=True)
    projects = sorted({(row["project_id"], row["project"]) for row in rows}, key=str)
    cells = {(row["project_id"], row["month"]): row for row in rows}
    table = [
        {
            "month": month,
            "cells": [cells.get((project_id, month)) for project_id, _n in projects],
        }
        for month in months
    ]
    window = _answers_window(request)
    if window is None:
        answers = SurveyResponse.objects.exclude(comment="")
    else:
        # The answers behind the overview's satisfaction figure of a period.
        answers = answers_in(
            window["project_id"],
            moment(window["start"]),
            moment(window["end"] + timedelta(days=1)),
        )
    comments = paginate(
        answers.select_related("customer", "project").order_by("-submitted_at", "-pk"),
        page=request.GET.get("page"),
        per_page=20,
    )
    return render(
        request,
        "service/survey_results.html",
        {
            "projects": [name or _("No project") for _pk, name in projects],
            "table": table,
            "overall": _overall(rows),
            "answers": sum(row["answers"] for row in rows),
            "page": comments,
            "window": window,
            "filter_query": window["query"] if window else "",
        },
    )


def _answers_window(request: HttpRequest) -> dict | None:
    """?start&end[&project]: every answer of those days, with or without a comment."""
    start = parse_date(request.GET.get("start"))
    end = parse_date(request.GET.get("end"))
    if start is None or end is None or end < start:
        return None
    project_id = parse_id(request.GET.get("project"))
    return {
        "start": start,
        "end": end,
        "project_id": project_id,
        "project": Project.objects.filter(pk=project_id).first()
        if project_id
        else None,
        "query": urlencode(
            {
                "start": start.isoformat(),
                "end": end.isoformat(),
                **({"project": project_id} if project_id else {}),
            }
        ),
    }


def _overall(rows: list[dict]) -> Decimal | None:
    """The index of the whole period from the monthly figures (weighted by answers)."""
    answers = sum(row["answers"] for row in rows)
    if not answers:
        return None
    total = sum(row["index"] * row["answers"] for row in rows)
    return (total / answers).quantize(Decimal("0.01"))
