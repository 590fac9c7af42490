"""Screens of the sale after contract: a project's change and commission rules, the
commission list, marking commission and refunds paid, writing a clawback line off."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm_site import confirm
from crm_site.confirm import Confirmation, keyed
from crm_site.pagination import paginate
from crm_site.permissions import action_required, see_required
from crm_site.templatetags.money import yuan
from sales.forms_aftersale import (
    ChangeRuleForm,
    CommissionFilterForm,
    CommissionRuleForm,
    CommissionWaiveForm,
)
from sales.models import (
    ChangeRule,
    Commission,
    CommissionRule,
    DealRefund,
    Opportunity,
)
from sales.models.approval import other_eyes
from sales.services.changes import change_rule_set, deal_refund_mark_paid
from sales.services.commission import (
    WAIVE_REASON_MAX,
    commission_mark_paid,
    commission_rule_set,
)
from sales.services.commission import commission_waive as write_off
from sales.services.sessions import projects_visible_to


@action_required("sales.manage_sales", see="sales.view_sales_management")
def project_aftersale_rules(request: HttpRequest, pk: int) -> HttpResponse:
    """A project's rules for changes after subscription or contract and for the
    consultants' commission; each form saves on its own. Only a project the
    manager's team sells: its rules decide what its consultants are paid."""
    project = get_object_or_404(projects_visible_to(request.user), pk=pk)
    change_rule = ChangeRule.objects.filter(project=project).first()
    commission_rule = CommissionRule.objects.filter(project=project).first()
    which = request.POST.get("which") if request.method == "POST" else None
    change_form = ChangeRuleForm(
        request.POST if which == "change" else None,
        instance=change_rule or ChangeRule(project=project),
        prefix="change",
    )
    commission_form = CommissionRuleForm(
        request.POST if which == "commission" else None,
        instance=commission_rule or CommissionRule(project=project),
        prefix="commission",
    )
    status = 200
    if which == "change":
        if change_form.is_valid():
            change_rule_set(
                actor=request.user, project=project, **change_form.cleaned_data
            )
            messages.success(request, _("The rules for changes are saved."))
            return redirect("sales:project-aftersale-rules", pk=project.pk)
        status = 400
    elif which == "commission":
        if commission_form.is_valid():
            commission_rule_set(
                actor=request.user, project=project, **commission_form.cleaned_data
            )
            messages.success(
                request,
                _(
                    "The commission rule is saved; commission accrued before keeps its rule."
                ),
            )
            return redirect("sales:project-aftersale-rules", pk=project.pk)
        status = 400
    elif request.method == "POST":
        messages.error(request, _("Choose which rules to save."))
        status = 400
    return render(
        request,
        "sales/change_rules.html",
        {
            "project": project,
            "change_form": change_form,
            "commission_form": commission_form,
            "change_rule": change_rule,
            "commission_rule": commission_rule,
        },
        status=status,
    )


def _visible_commissions(user):
    """A consultant sees the commission they earned, whoever works the deal now (a
    reassigned deal leaves the row theirs, commission_accrue); a sales manager their
    team's (the deals they may see), a manager every project's."""
    if not user.has_perm("sales.view_sales_management"):
        return Commission.objects.filter(consultant=user)
    return Commission.objects.filter(
        opportunity__in=Opportunity.objects.visible_to(user)
    )


def _month_range(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = timezone.make_aware(dt.datetime.combine(month, dt.time.min))
    following = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return start, timezone.make_aware(dt.datetime.combine(following, dt.time.min))


@see_required("sales.view_sales_desk")
def commission_list(request: HttpRequest) -> HttpResponse:
    form = CommissionFilterForm(request.GET or None, user=request.user)
    rows = _visible_commissions(request.user)
    query = {}
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        if data["month"]:
            start, end = _month_range(data["month"])
            rows = rows.filter(accrued_at__gte=start, accrued_at__lt=end)
            query["month"] = data["month"].strftime("%Y-%m")
        if data["project"]:
            rows = rows.filter(project=data["project"])
            query["project"] = data["project"].pk
        if data["status"]:
            rows = rows.filter(status=data["status"])
            query["status"] = data["status"]
    elif form.is_bound:
        rows = rows.none()
    zero = Decimal("0")
    totals = rows.aggregate(
        **{
            value: Sum("amount", filter=Q(status=value), default=zero)
            for value in Commission.Status.values
        }
    )
    # A paid row of a cancelled deal says whether its clawback line was written off
    # (not taken back after all), in the same query.
    written_off = Commission.objects.filter(
        opportunity=OuterRef("opportunity"),
        consultant=OuterRef("consultant"),
        kind=Commission.Kind.CLAWBACK,
        status=Commission.Status.WAIVED,
    )
    page = paginate(
        rows.annotate(written_off=Exists(written_off))
        .select_related(
            "opportunity__customer", "opportunity__unit", "consultant", "project"
        )
        .order_by("-accrued_at", "-pk"),
        page=request.GET.get("page"),
    )
    may_settle = request.user.has_perm("sales.manage_sales")
    refused = request.session.pop(WAIVE_REFUSED_KEY, None)
    for row in page.items:
        # Four eyes: a manager who sells settles no line of their own.
        row.may_settle = may_settle and other_eyes(request.user, row.consultant_id)
        row.waive_ask = _waive_confirmation(row) if row.may_settle else None
        if row.waive_ask and refused and refused.get("pk") == row.pk:
            row.waive_form = _refused_waive_form(refused.get("reason", ""))
    return render(
        request,
        "sales/commission_list.html",
        {
            "form": form,
            "page": page,
            "totals": [
                (value, label, totals[value])
                for value, label in Commission.Status.choices
            ],
            "filter_query": "&".join(f"{k}={v}" for k, v in query.items()),
            "waive_form": CommissionWaiveForm(auto_id=False),
            "list_query": request.GET.urlencode(),
        },
        status=400 if form.is_bound and not form.is_valid() else 200,
    )


# A write-off refused for its reason: the line and what was typed, shown by the list
# the browser is sent back to (its filters and page kept), the error next to it.
WAIVE_REFUSED_KEY = "sales:commission-waive-refused"


def _refused_waive_form(reason: str) -> CommissionWaiveForm:
    """The line's reason as typed, checked again (the error in the reader's
    language) and marked invalid."""
    form = CommissionWaiveForm({"reason": reason}, auto_id=False)
    form.is_valid()
    form.fields["reason"].widget.attrs["class"] += " is-invalid"
    return form


def _back_to_commissions(request: HttpRequest) -> HttpResponse:
    """The commission list as it was filtered and paged (the line's form posts with
    the list's query string)."""
    query = request.GET.urlencode()
    return redirect(f"{reverse('sales:commission-list')}{'?' + query if query else ''}")


@action_required("sales.manage_sales")
@require_POST
def commission_pay(request: HttpRequest, pk: int) -> HttpResponse:
    commission = get_object_or_404(_visible_commissions(request.user), pk=pk)
    try:
        paid = commission_mark_paid(actor=request.user, commission=commission)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        clawback = commission.kind == Commission.Kind.CLAWBACK
        if paid and clawback:
            messages.success(
                request, _("Clawback recorded as deducted from the settlement.")
            )
        elif paid:
            messages.success(request, _("Commission recorded as paid."))
        elif clawback:
            messages.info(request, _("This clawback was deducted already."))
        else:
            messages.info(request, _("This commission was paid already."))
    return redirect("sales:commission-list")


def _waivable(commission: Commission) -> bool:
    return (
        commission.kind == Commission.Kind.CLAWBACK
        and commission.status == Commission.Status.PAYABLE
    )


def _waive_confirmation(
    commission: Commission, *, reason: str = ""
) -> Confirmation | None:
    """What writing a clawback line off asks first, from the row as the list loaded
    it (deal, customer, unit, consultant), with the reason once it is typed; None
    for a line that cannot be."""
    if not _waivable(commission):
        return None
    deal = commission.opportunity
    consultant = commission.consultant
    who = consultant.display_name
    if not consultant.is_active:
        who = _("%(name)s (left the company)") % {"name": who}
    shown = deal.customer.name
    if deal.unit is not None:
        shown = f"{shown} · {deal.unit.number}"
    facts = [
        (_("Consultant"), who),
        (_("Deal"), shown),
        (_("Not recovered"), yuan(-commission.amount, 2)),
    ]
    if reason:
        facts.append((_("Reason"), reason))
    return keyed(
        Confirmation(
            title=_("Write this clawback off?"),
            facts=facts,
            consequence=_(
                "The line leaves the payable total and is never deducted from the "
                "consultant's settlements. This cannot be undone."
            ),
            action=_("Write off"),
            danger=True,
        ),
        "waive",
        commission.pk,
    )


@action_required("sales.manage_sales")
@require_POST
def commission_waive(request: HttpRequest, pk: int) -> HttpResponse:
    """A sales manager writes a payable clawback line off with a reason (核销): the
    consultant left, or it will not be recovered. Asks first."""
    commission = get_object_or_404(
        _visible_commissions(request.user).select_related(
            "opportunity__customer", "opportunity__unit", "consultant"
        ),
        pk=pk,
    )
    form = CommissionWaiveForm(request.POST)
    if not form.is_valid():
        # Back to the list, the error next to the line's reason (at most a little
        # more than a valid reason is kept to show it again).
        request.session[WAIVE_REFUSED_KEY] = {
            "pk": commission.pk,
            "reason": request.POST.get("reason", "")[: WAIVE_REASON_MAX + 20],
        }
        return _back_to_commissions(request)
    if _waivable(commission) and not confirm.confirmed(request):
        return confirm.ask(
            request,
            _waive_confirmation(commission, reason=form.cleaned_data["reason"]),
            back="sales:commission-list",
        )
    try:
        waived = write_off(
            actor=request.user,
            commission=commission,
            reason=form.cleaned_data["reason"],
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if waived:
            messages.success(
                request, _("Clawback written off: it will not be recovered.")
            )
        else:
            messages.info(request, _("This clawback was written off already."))
    return _back_to_commissions(request)


@action_required("sales.manage_sales")
@require_POST
def refund_pay(request: HttpRequest, pk: int) -> HttpResponse:
    refund = get_object_or_404(
        DealRefund.objects.filter(
            opportunity__in=Opportunity.objects.visible_to(request.user)
        ),
        pk=pk,
    )
    if deal_refund_mark_paid(actor=request.user, refund=refund):
        messages.success(request, _("The refund is recorded as paid back."))
    else:
        messages.info(request, _("This refund was paid already."))
    return redirect("sales:opportunity-detail", pk=refund.opportunity_id)
