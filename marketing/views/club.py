"""The member club on the staff side: the members list by level, a member's points
ledger and the correction of a balance (a new entry with its reason)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm_site.pagination import paginate
from crm_site.permissions import action_required, see_required
from customers.models import Customer
from marketing.club_forms import MemberFilterForm, PointsCorrectionForm
from marketing.club_selectors import club_card, ledger, member_rows
from marketing.services.club import club_levels, level_for, points_correct

SEE = "marketing.view_pointentry"
CORRECT = "marketing.correct_points"


@see_required(SEE)
def member_list(request: HttpRequest) -> HttpResponse:
    form = MemberFilterForm(request.GET or None)
    level = form.cleaned_data.get("level") if form.is_valid() else None
    levels = club_levels()
    page = paginate(
        member_rows(user=request.user, level=level, levels=levels),
        page=request.GET.get("page"),
    )
    rows = [(member, level_for(member.balance, levels)) for member in page.items]
    filters = request.GET.copy()
    filters.pop("page", None)
    return render(
        request,
        "marketing/club_member_list.html",
        {
            "form": form,
            "page": page,
            "rows": rows,
            "levels": levels,
            "filter_query": filters.urlencode(),
        },
    )


def _member(request: HttpRequest, pk: int) -> Customer:
    return get_object_or_404(Customer.objects.visible_to(request.user).live(), pk=pk)


def _ledger_page(
    request: HttpRequest, customer: Customer, form: PointsCorrectionForm | None = None
) -> HttpResponse:
    page = paginate(ledger(customer), page=request.GET.get("page"))
    return render(
        request,
        "marketing/club_member_ledger.html",
        {
            "customer": customer,
            "card": club_card([customer.pk], entries=0),
            "page": page,
            "form": form or PointsCorrectionForm(),
            "can_correct": request.user.has_perm(CORRECT),
        },
        status=400 if form is not None and form.errors else 200,
    )


@see_required(SEE)
def member_ledger(request: HttpRequest, pk: int) -> HttpResponse:
    return _ledger_page(request, _member(request, pk))


@action_required(CORRECT, see=SEE)
@require_POST
def points_correction(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _member(request, pk)
    form = PointsCorrectionForm(request.POST)
    if form.is_valid():
        try:
            points_correct(
                actor=request.user,
                member=customer,
                points=form.cleaned_data["points"],
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Points corrected."))
            return redirect("marketing:club-member", pk=customer.pk)
    return _ledger_page(request, customer, form)
