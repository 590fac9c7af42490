"""Service's source of member-club points: a satisfaction survey answered. Registered
from ServiceConfig.ready() with marketing's registry (marketing.points), so marketing
never imports service."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from django.utils.translation import gettext_lazy as _

SURVEY_ANSWERED = "survey_answered"


def surveys_answered(
    *, since: datetime | None, customer_ids: Iterable[int] | None
) -> Iterator:
    from marketing.points import Occurrence
    from service.models import SurveyResponse

    answers = SurveyResponse.objects.all()
    if since is not None:
        answers = answers.filter(submitted_at__gte=since)
    if customer_ids is not None:
        answers = answers.filter(customer_id__in=list(customer_ids))
    for pk, customer_id, submitted_at in answers.values_list(
        "pk", "customer_id", "submitted_at"
    ).iterator(chunk_size=2000):
        yield Occurrence(customer_id, f"survey:{pk}", submitted_at)


def register() -> None:
    from marketing.points import register_point_source

    register_point_source(
        SURVEY_ANSWERED,
        label=_("Survey answered"),
        occurrences=surveys_answered,
        order=30,
    )
