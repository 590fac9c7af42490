"""Referrals (老带新): record one from the customer page, list them, settle rewards."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm_site.audit import audit_entries_for
from crm_site.pagination import paginate
from crm_site.permissions import action_required, see_required
from customers.models import Customer
from customers.services import DuplicateCustomer, customer_find_by_phone
from marketing.models import ReferralReward, ReferralRule
from marketing.models.payouts import Payout
from marketing.partner_forms import ReferralFilterForm, ReferralForm, ReferralRuleForm
from marketing.partner_selectors import (
    referral_rows,
    referrals_visible_to,
    stage_label,
)
from marketing.services.payouts import payout_move
from marketing.services.referrals import referral_create as create_referral
from marketing.services.referrals import referral_rule_set, reward_amount
from sales.models import Project


@action_required("marketing.add_referral")
def referral_create(request: HttpRequest, customer_pk: int) -> HttpResponse:
    referrer = get_object_or_404(
        Customer.objects.visible_to(request.user), pk=customer_pk
    )
    form = ReferralForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            create_referral(
                actor=request.user,
                referrer=referrer,
                project=data["project"],
                friend=customer_find_by_phone(data["friend_mobile"]),
                friend_name=data["friend_name"],
                friend_mobile=data["friend_mobile"],
                note=data["note"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        except DuplicateCustomer:
            form.add_error(
                "friend_mobile", _("This number was just registered; try again.")
            )
        else:
            messages.success(request, _("Referral recorded."))
            return redirect(referrer)
    return render(
        request,
        "marketing/referral_form.html",
        {"form": form, "referrer": referrer},
        status=400 if form.errors else 200,
    )


@see_required("marketing.view_referral")
def referral_list(request: HttpRequest) -> HttpResponse:
    form = ReferralFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    qs = referral_rows(
        user=request.user, project=data.get("project"), reward=data.get("reward", "")
    )
    filters = request.GET.copy()
    filters.pop("page", None)
    page = paginate(qs, page=request.GET.get("page"))
    for row in page.items:
        row.friend_stage_label = stage_label(row.friend_stage)
    return render(
        request,
        "marketing/referral_list.html",
        {
            "form": form,
            "page": page,
            "filter_query": filters.urlencode(),
        },
    )


@see_required("marketing.view_referral")
def referral_detail(request: HttpRequest, pk: int) -> HttpResponse:
    referral = get_object_or_404(referral_rows(user=request.user), pk=pk)
    referral.friend_stage_label = stage_label(referral.friend_stage)
    reward = getattr(referral, "reward", None)
    return render(
        request,
        "marketing/referral_detail.html",
        {
            "referral": referral,
            # The customers whose page the reader may open (a marketer's scope is
            # the customers who consented to marketing): the others are named only.
            "openable": set(
                Customer.objects.visible_to(request.user)
                .filter(pk__in=[referral.referrer_id, referral.friend_id])
                .values_list("pk", flat=True)
            ),
            "reward": reward,
            "history": audit_entries_for(reward)[:20] if reward else [],
        },
    )


def _settle(request: HttpRequest, pk: int, status: str) -> HttpResponse:
    reward = get_object_or_404(
        ReferralReward.objects.filter(referral__in=referrals_visible_to(request.user)),
        referral_id=pk,
    )
    try:
        moved = payout_move(actor=request.user, payout=reward, status=status)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if moved:
            messages.success(
                request,
                _("Reward is now: %(status)s")
                % {"status": reward.get_status_display()},
            )
    return redirect("marketing:referral-detail", pk=pk)


@action_required("marketing.approve_reward")
@require_POST
def reward_approve(request: HttpRequest, pk: int) -> HttpResponse:
    return _settle(request, pk, Payout.Status.APPROVED)


@action_required("marketing.pay_reward")
@require_POST
def reward_pay(request: HttpRequest, pk: int) -> HttpResponse:
    return _settle(request, pk, Payout.Status.PAID)


@action_required("marketing.change_referralrule")
def referral_rules(request: HttpRequest) -> HttpResponse:
    """Each project's referral reward; a project without a rule pays the default."""
    form = ReferralRuleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        referral_rule_set(
            actor=request.user,
            project=form.cleaned_data["project"],
            reward=form.cleaned_data["reward"],
        )
        messages.success(request, _("Referral reward saved."))
        return redirect("marketing:referral-rules")
    rules = dict(ReferralRule.objects.values_list("project_id", "reward"))
    projects = [
        (project, rules.get(project.pk)) for project in Project.objects.order_by("name")
    ]
    return render(
        request,
        "marketing/referral_rules.html",
        {"form": form, "projects": projects, "default": reward_amount(None)},
        status=400 if form.errors else 200,
    )
