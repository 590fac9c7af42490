"""Marketing."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from crm_site.permissions import see_required
from customers.models import Customer
from customers.selectors import customer_counts_by


def _rows(
    choices: list[tuple[str, str]], counts: dict[str, int]
) -> list[tuple[str, str, int, int]]:
    total = sum(counts.values()) or 1
    return [
        (value, label, counts.get(value, 0), round(100 * counts.get(value, 0) / total))
        for value, label in choices
    ]


@see_required("marketing.use_marketing")
def marketing_home(request: HttpRequest) -> HttpResponse:
    by_source = customer_counts_by(user=request.user, field="source")
    by_stage = customer_counts_by(user=request.user, field="stage")
    return render(
        request,
        "marketing/marketing_home.html",
        {
            "total": sum(by_stage.values()),
            "by_source": _rows(Customer.Source.choices, by_source),
            "by_stage": _rows(Customer.Stage.choices, by_stage),
        },
    )
