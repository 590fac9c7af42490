"""Deposit screens (认筹): the project's deposits, taking one, a deposit's page with
its qualification and refunds, the managers' refund approvals; and a session's
order (排号 / 摇号): filling it, the lottery's seed and draw, the printable order
with what anyone needs to verify the draw."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from crm_site.pagination import paginate
from crm_site.permissions import action_required, see_required
from crm_site.validation import parse_id
from customers.models import Customer
from sales.forms import DiscountDecisionForm
from sales.forms_deposits import (
    CANDIDATES,
    DepositFilterForm,
    DepositTakeForm,
    QualificationForm,
    RefundRequestForm,
)
from sales.models import (
    DepositRefund,
    IntentDeposit,
    SelectionSession,
    SessionEntry,
)
from sales.models.approval import may_approve
from sales.services import deposits as service
from sales.services import lottery, sessions


def _pending_refund() -> Exists:
    return Exists(
        DepositRefund.objects.filter(
            deposit=OuterRef("pk"), status=DepositRefund.Status.PENDING
        )
    )


def _search(qs, text: str, user) -> object:
    """A name or phone (the customer search), a queue number or a receipt number."""
    text = " ".join(text.split())
    if not text:
        return qs
    found = Q(receipt_number__iexact=text) | Q(
        customer__in=Customer.objects.visible_to(user).search(text, user=user)
    )
    # isascii(): str.isdigit() also accepts "²" and "①", which int() refuses.
    if text.isascii() and text.isdigit() and len(text) <= 9:
        found |= Q(queue_number=int(text))
    return qs.filter(found)


@see_required("sales.view_sales_desk")
def deposit_list(request: HttpRequest, pk: int) -> HttpResponse:
    project = get_object_or_404(sessions.projects_visible_to(request.user), pk=pk)
    form = DepositFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    qs = (
        service.deposits_visible_to(request.user)
        .filter(project=project)
        .select_related("customer", "consultant")
        .annotate(refund_pending=_pending_refund())
    )
    qs = _search(qs, data.get("q", ""), request.user)
    if data.get("status"):
        qs = qs.filter(status=data["status"])
    if data.get("qualification"):
        qs = qs.filter(qualification=data["qualification"])
    page = paginate(qs.order_by("queue_number"), page=request.GET.get("page"))
    for deposit in page.items:
        deposit.mobile_display = deposit.customer.mobile_for(request.user)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "sales/deposit_list.html",
        {
            "project": project,
            "page": page,
            "filter_form": form,
            "filter_query": query.urlencode(),
        },
    )


@action_required("sales.use_sales")
def deposit_take(request: HttpRequest, pk: int) -> HttpResponse:
    project = get_object_or_404(sessions.projects_visible_to(request.user), pk=pk)
    editable = Customer.objects.editable_by(request.user).identifiable()
    text = " ".join(request.GET.get("q", "").split())[:100]
    candidates = []
    if text:
        candidates = list(editable.search(text, user=request.user)[:CANDIDATES])
    chosen = parse_id(request.POST.get("customer") or request.GET.get("customer"))
    if chosen and chosen not in {c.pk for c in candidates}:
        candidates += list(editable.filter(pk=chosen))
    form = DepositTakeForm(
        request.POST or None,
        user=request.user,
        project=project,
        candidates=candidates,
        initial={"customer": chosen} if chosen else None,
    )
    if request.method == "POST" and form.is_valid():
        try:
            deposit = service.deposit_take(
                actor=request.user, project=project, **form.cleaned_data
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request,
                _("Deposit taken: queue number %(number)s.")
                % {"number": deposit.queue_number},
            )
            return redirect("sales:deposit-detail", pk=deposit.pk)
    return render(
        request,
        "sales/deposit_take.html",
        {"project": project, "form": form, "q": text, "searched": bool(text)},
    )


def _visible_deposit(request: HttpRequest, pk: int) -> IntentDeposit:
    return get_object_or_404(
        service.deposits_visible_to(request.user).select_related(
            "project", "customer", "consultant", "created_by", "opportunity"
        ),
        pk=pk,
    )


def _own_request(refund: DepositRefund, user) -> bool:
    """Four eyes: who asked is offered only to withdraw it."""
    return not may_approve(refund, user)


@see_required("sales.view_sales_desk")
def deposit_detail(request: HttpRequest, pk: int) -> HttpResponse:
    deposit = _visible_deposit(request, pk)
    refunds = list(
        deposit.refunds.select_related("requested_by", "decided_by").order_by(
            "-requested_at", "-pk"
        )
    )
    entries = list(
        SessionEntry.objects.filter(deposit=deposit)
        .select_related("session")
        .order_by("-session__starts_at")
    )
    pending = next(
        (r for r in refunds if r.status == DepositRefund.Status.PENDING), None
    )
    user = request.user
    return render(
        request,
        "sales/deposit_detail.html",
        {
            "deposit": deposit,
            "mobile_display": deposit.customer.mobile_for(user),
            "refunds": refunds,
            "entries": entries,
            "pending": pending,
            "refund_form": RefundRequestForm(),
            "qualification_form": QualificationForm(
                initial={"reference": deposit.qualification_note}
            ),
            "decision_form": DiscountDecisionForm(),
            "may_act": user.has_perm("sales.use_sales"),
            "may_decide": user.has_perm("sales.manage_sales"),
            "own_request": pending is not None and _own_request(pending, user),
            "open_session": any(
                e.session.status == SelectionSession.Status.OPEN for e in entries
            ),
        },
    )


def _errors(request: HttpRequest, form) -> None:
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        for error in errors:
            messages.error(request, f"{label}：{error}" if label else error)


@action_required("sales.use_sales")
@require_POST
def deposit_refund_request(request: HttpRequest, pk: int) -> HttpResponse:
    deposit = _visible_deposit(request, pk)
    form = RefundRequestForm(request.POST)
    if not form.is_valid():
        _errors(request, form)
        return redirect("sales:deposit-detail", pk=deposit.pk)
    try:
        service.deposit_refund_request(
            actor=request.user, deposit=deposit, reason=form.cleaned_data["reason"]
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The refund waits for a sales manager."))
    return redirect("sales:deposit-detail", pk=deposit.pk)


@action_required("sales.use_sales")
@require_POST
def deposit_qualify(request: HttpRequest, pk: int) -> HttpResponse:
    deposit = _visible_deposit(request, pk)
    form = QualificationForm(request.POST)
    if not form.is_valid():
        _errors(request, form)
        return redirect("sales:deposit-detail", pk=deposit.pk)
    try:
        service.deposit_qualify(
            actor=request.user,
            deposit=deposit,
            qualified=form.cleaned_data["result"] == "qualified",
            reference=form.cleaned_data["reference"],
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Purchase qualification recorded."))
    return redirect("sales:deposit-detail", pk=deposit.pk)


@see_required("sales.view_sales_management")
def deposit_refund_list(request: HttpRequest) -> HttpResponse:
    pending = (
        DepositRefund.objects.filter(
            status=DepositRefund.Status.PENDING,
            deposit__in=service.deposits_visible_to(request.user),
        )
        .select_related("deposit__customer", "deposit__project", "requested_by")
        .order_by("requested_at", "pk")
    )
    page = paginate(pending, page=request.GET.get("page"))
    user = request.user
    for refund in page.items:
        refund.mobile_display = refund.deposit.customer.mobile_for(user)
        refund.own_request = _own_request(refund, user)
    return render(
        request,
        "sales/deposit_refund_list.html",
        {"page": page, "form": DiscountDecisionForm()},
    )


@action_required("sales.manage_sales")
@require_POST
def deposit_refund_decide(request: HttpRequest, pk: int) -> HttpResponse:
    refund = get_object_or_404(
        DepositRefund.objects.filter(
            deposit__in=service.deposits_visible_to(request.user)
        ),
        pk=pk,
    )
    form = DiscountDecisionForm(request.POST)
    if not form.is_valid():
        _errors(request, form)
        return redirect("sales:deposit-refund-list")
    if refund.status != DepositRefund.Status.PENDING:
        messages.info(request, _("This was decided already."))
        return redirect("sales:deposit-refund-list")
    approve = form.cleaned_data["decision"] == "approve"
    try:
        service.deposit_refund_decide(
            actor=request.user,
            refund=refund,
            approve=approve,
            note=form.cleaned_data["note"],
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if approve:
            said = _("Refund approved: the deposit is refunded.")
        elif _own_request(refund, request.user):
            said = _("Your request was withdrawn.")
        else:
            said = _("Refund rejected.")
        messages.success(request, said)
    return redirect("sales:deposit-refund-list")


# The session's order ------------------------------------------------------------


@see_required("sales.view_sales_desk")
def session_order(request: HttpRequest, pk: int) -> HttpResponse:
    session = get_object_or_404(
        sessions.sessions_visible_to(request.user).select_related("project"), pk=pk
    )
    entries = list(
        SessionEntry.objects.filter(session=session)
        .select_related("deposit__customer")
        .order_by("position", "deposit__queue_number")
    )
    for entry in entries:
        entry.masked_name = sessions.mask_name(entry.deposit.customer.name)
    numbers = sorted(e.deposit.queue_number for e in entries)
    drawn = session.drawn_at is not None
    return render(
        request,
        "sales/session_order.html",
        {
            "session": session,
            "entries": entries,
            "numbers": ",".join(str(n) for n in numbers),
            "drawn": drawn,
            # The seed is secret until the draw; then it is what proves the order.
            "seed": session.seed if drawn else "",
            "is_lottery": session.order == SelectionSession.Order.LOTTERY,
            "is_draft": session.status == SelectionSession.Status.DRAFT,
            "may_manage": request.user.has_perm("sales.manage_sales"),
            "eligible": lottery.eligible_deposits(session).count()
            if session.status == SelectionSession.Status.DRAFT
            else 0,
            "now": timezone.now(),
        },
    )


def _session_action(request: HttpRequest, pk: int, action, done) -> HttpResponse:
    """Run a session action; ``done`` says what it did, from its result."""
    session = get_object_or_404(sessions.sessions_visible_to(request.user), pk=pk)
    try:
        result = action(actor=request.user, session=session)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, done(result))
    return redirect("sales:session-order", pk=session.pk)


@action_required("sales.manage_sales")
@require_POST
def session_fill(request: HttpRequest, pk: int) -> HttpResponse:
    return _session_action(
        request,
        pk,
        lottery.session_entries_fill,
        lambda count: (
            ngettext(
                "%(count)s buyer entered in the session.",
                "%(count)s buyers entered in the session.",
                count,
            )
            % {"count": count}
        ),
    )


@action_required("sales.manage_sales")
@require_POST
def session_commit(request: HttpRequest, pk: int) -> HttpResponse:
    return _session_action(
        request,
        pk,
        lottery.session_commit_seed,
        lambda _session: _(
            "The lottery's seed is committed; its fingerprint is published."
        ),
    )


@action_required("sales.manage_sales")
@require_POST
def session_order_set(request: HttpRequest, pk: int) -> HttpResponse:
    return _session_action(
        request,
        pk,
        lottery.session_order_set,
        lambda _session: _(
            "The order is set and each buyer is sent their number and time slot."
        ),
    )
