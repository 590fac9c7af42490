"""The top customers (customers.value): the customers a manager may see, highest
value first, with what each brought and cost."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.utils.translation import gettext as _

from crm_site.pagination import paginate
from crm_site.permissions import see_required
from customers import value
from customers.forms import ValueFilterForm


@dataclass(frozen=True)
class ValueRow:
    """One customer of the list, worked out once so the loop only prints."""

    rank: int
    pk: int
    url: str
    name: str
    mobile: str
    stage_label: str
    consultant: str
    tier: str
    tier_style: str
    contracted: object
    referred: object
    cost: object
    score: object


def value_rows(customers, *, user, first_rank: int) -> list[ValueRow]:
    """``customers`` from value.top_customers; numbers masked per user as the
    customer list masks them (Customer.mobile_for)."""
    pool = _("Public pool")
    rows = []
    for offset, customer in enumerate(customers):
        fact = customer.value
        consultant = customer.assigned_consultant
        rows.append(
            ValueRow(
                rank=first_rank + offset,
                pk=customer.pk,
                url=customer.get_absolute_url(),
                name=customer.name,
                mobile=customer.mobile_for(user),
                stage_label=customer.get_stage_display(),
                consultant=consultant.display_name if consultant else pool,
                tier=fact.tier.name if fact.tier else "",
                tier_style=fact.tier.style if fact.tier else "light",
                contracted=fact.contracted,
                referred=fact.referred,
                cost=fact.cost,
                score=fact.score,
            )
        )
    return rows


@see_required(value.SEE_VALUE)
def value_list(request: HttpRequest) -> HttpResponse:
    """For the roles that see value (value.SEE_VALUE); the customers are those of
    the customer list's scope for the same user."""
    form = ValueFilterForm(request.GET or None)
    tier = project = None
    if form.is_bound and form.is_valid():
        tier, project = form.cleaned_data["tier"], form.cleaned_data["project"]
    qs = value.top_customers(user=request.user, tier=tier, project=project)
    page = paginate(qs, page=request.GET.get("page"), per_page=50)
    kept = QueryDict(mutable=True)
    if form.is_bound and form.is_valid():
        for key in ("tier", "project"):
            if request.GET.get(key):
                kept[key] = request.GET[key]
    return render(
        request,
        "customers/customer_value_list.html",
        {
            "form": form,
            "page": page,
            "rows": value_rows(
                page.items, user=request.user, first_rank=(page.number - 1) * 50 + 1
            ),
            "filter_query": kept.urlencode(),
            "refreshed_at": _refreshed_at(),
            "weight": f"{value.referral_weight().normalize():f}",
        },
    )


def _refreshed_at():
    from crm_site import insight

    return insight.refreshed_at([value.FACT])
