"""The sales desk: the consultant's landing page, the sales-control grid, units and deals."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm_site.models import JobRun, User
from crm_site.pagination import paginate
from crm_site.permissions import action_required, see_required
from crm_site.validation import parse_date, parse_id
from customers.models import Customer
from customers.selectors import customer_list
from sales import dashboard, selectors, services
from sales.forms import (
    BuildingGenerateForm,
    DashboardFilterForm,
    DealChangeForm,
    DiscountDecisionForm,
    DiscountForm,
    GridFilterForm,
    OpportunityOpenForm,
    PaymentPlanForm,
    PricePlanForm,
    ProtectionRuleForm,
    ReceiptForm,
    ReserveForm,
    StageMoveForm,
    UnitImportForm,
)
from sales.models import (
    Building,
    DealChange,
    DiscountRequest,
    Opportunity,
    PaymentItem,
    Project,
    Registration,
    StageChange,
    Unit,
    UnitHold,
)
from sales.pricing import quote
from sales.services import ownership
from sales.services import unit_import as unit_import_service


@see_required("sales.view_sales_desk")
def sales_home(request: HttpRequest) -> HttpResponse:
    by_stage = selectors.my_customers_by_stage(user=request.user)
    recent = list(
        customer_list(user=request.user).filter(assigned_consultant=request.user)[:10]
    )
    for customer in recent:
        customer.mobile_display = customer.mobile_for(request.user)
    return render(
        request,
        "sales/sales_home.html",
        {
            "stage_counts": [
                (value, label, by_stage.get(value, 0))
                for value, label in Customer.Stage.choices
            ],
            "my_total": sum(by_stage.values()),
            "pool_size": selectors.public_pool_size(),
            "recent": recent,
            "projects": Project.objects.filter(is_active=True).prefetch_related(
                "buildings"
            ),
            "deal_counts": selectors.open_deal_counts(user=request.user),
            "team": selectors.team_workload(user=request.user)
            if request.user.has_perm("sales.view_sales_management")
            else [],
        },
    )


def _grid_context(request: HttpRequest, building: Building) -> dict:
    form = GridFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    grid = selectors.building_grid(
        building=building,
        layout=data.get("layout", ""),
        price_min=data.get("price_min"),
        price_max=data.get("price_max"),
    )
    return {
        "building": building,
        "grid": grid,
        "filter_form": form,
        "query": request.GET.urlencode(),
    }


@see_required("sales.view_sales_desk")
def building_grid(request: HttpRequest, pk: int) -> HttpResponse:
    building = get_object_or_404(Building.objects.select_related("project"), pk=pk)
    return render(request, "sales/building_grid.html", _grid_context(request, building))


@see_required("sales.view_sales_desk")
def building_grid_cells(request: HttpRequest, pk: int) -> HttpResponse:
    """The grid alone: the page re-fetches it every few seconds so the office screen stays current."""
    building = get_object_or_404(Building.objects.select_related("project"), pk=pk)
    return render(
        request, "sales/building_grid.html#grid", _grid_context(request, building)
    )


@action_required("sales.manage_inventory")
def building_create(request: HttpRequest) -> HttpResponse:
    form = BuildingGenerateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            building = services.building_generate(
                actor=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request,
                _("Building %(name)s created with %(count)s units.")
                % {"name": building.name, "count": building.units.count()},
            )
            return redirect(building)
    return render(request, "sales/building_form.html", {"form": form})


@see_required("sales.view_sales_desk")
def unit_detail(request: HttpRequest, pk: int) -> HttpResponse:
    unit = get_object_or_404(Unit.objects.select_related("building__project"), pk=pk)
    hold = (
        UnitHold.objects.filter(unit=unit, status=UnitHold.Status.ACTIVE)
        .select_related("opportunity__customer", "held_by")
        .first()
    )
    deal = (
        Opportunity.objects.visible_to(request.user)
        .filter(unit=unit)
        .exclude(stage=Opportunity.Stage.LOST)
        .select_related("customer", "consultant")
        .first()
    )
    form = ReserveForm(user=request.user, project=unit.building.project)
    return render(
        request,
        "sales/unit_detail.html",
        {
            "unit": unit,
            "hold": hold,
            "deal": deal,
            "hold_is_visible": hold is not None
            and deal is not None
            and hold.opportunity_id == deal.pk,
            "reserve_form": form,
            "price_changes": unit.price_changes.select_related("changed_by").order_by(
                "-changed_at"
            )[:10],
        },
    )


@action_required("sales.use_sales")
@require_POST
def unit_reserve(request: HttpRequest, pk: int) -> HttpResponse:
    unit = get_object_or_404(Unit.objects.select_related("building__project"), pk=pk)
    form = ReserveForm(request.POST, user=request.user, project=unit.building.project)
    if not form.is_valid():
        for error in form.errors.values():
            messages.error(request, " ".join(error))
        return redirect(unit)
    try:
        with transaction.atomic():
            opportunity = form.cleaned_data.get(
                "opportunity"
            ) or services.opportunity_open(
                actor=request.user,
                customer=form.cleaned_data["customer"],
                project=unit.building.project,
            )
            if (
                not Opportunity.objects.visible_to(request.user)
                .filter(pk=opportunity.pk)
                .exists()
            ):
                raise PermissionDenied
            services.unit_reserve(
                actor=request.user, opportunity=opportunity, unit=unit
            )
    except services.UnitUnavailable as exc:
        messages.error(
            request,
            _("Unit %(unit)s is no longer available (%(status)s).")
            % {"unit": exc.unit.number, "status": exc.unit.get_status_display()},
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, _("Unit %(unit)s is held for you.") % {"unit": unit.number}
        )
    return redirect(unit)


def _visible_deal(request: HttpRequest, pk: int) -> Opportunity:
    return get_object_or_404(
        Opportunity.objects.visible_to(request.user).select_related(
            "customer", "project", "unit__building", "consultant", "campaign"
        ),
        pk=pk,
    )


@action_required("sales.use_sales")
@require_POST
def hold_release(request: HttpRequest, pk: int) -> HttpResponse:
    deal = _visible_deal(request, pk)
    hold = get_object_or_404(UnitHold, opportunity=deal, status=UnitHold.Status.ACTIVE)
    services.unit_release(actor=request.user, hold=hold)
    messages.success(request, _("The unit is on sale again."))
    return redirect(deal)


@action_required("sales.use_sales")
@require_POST
def opportunity_subscribe(request: HttpRequest, pk: int) -> HttpResponse:
    deal = _visible_deal(request, pk)
    try:
        services.unit_subscribe(actor=request.user, opportunity=deal)
    except services.UnitUnavailable:
        messages.error(request, _("The unit is no longer available."))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Subscription recorded."))
    return redirect(deal)


@see_required("sales.view_sales_desk")
def opportunity_list(request: HttpRequest) -> HttpResponse:
    qs = (
        Opportunity.objects.visible_to(request.user)
        .select_related("customer", "project", "unit", "consultant")
        .order_by("-stage_changed_at", "-id")
    )
    stage = request.GET.get("stage", "")
    if stage in Opportunity.Stage.values:
        qs = qs.filter(stage=stage)
    project = request.GET.get("project", "")
    if project.isdigit():
        qs = qs.filter(project_id=int(project))
    consultant = request.GET.get("consultant", "")
    if consultant.isdigit():
        qs = qs.filter(consultant_id=int(consultant))
    reached = _reached_filter(request)
    if reached:
        qs = qs.filter(
            Exists(
                StageChange.objects.filter(
                    opportunity=OuterRef("pk"),
                    to_stage=reached["stage"],
                    changed_at__gte=reached["since"],
                    changed_at__lt=reached["until"],
                )
            )
        )
    page = paginate(qs, page=request.GET.get("page"))
    filters = request.GET.copy()
    filters.pop("page", None)
    return render(
        request,
        "sales/opportunity_list.html",
        {
            "page": page,
            "stage": stage,
            "project": project,
            "stages": Opportunity.Stage.choices,
            "projects": Project.objects.all(),
            "consultant": consultant,
            # Managers list deals per consultant of their team.
            "consultants": User.objects.filter(
                pk__in=Opportunity.objects.visible_to(request.user)
                .order_by()
                .values("consultant_id")
                .distinct()
            ).order_by("last_name", "first_name")
            if request.user.has_perm("sales.view_sales_management")
            else [],
            "filter_query": filters.urlencode(),
            "reached": reached,
        },
    )


def _reached_filter(request: HttpRequest) -> dict | None:
    """?reached=<stage>&start=<date>&end=<date>: the deals that reached the stage on
    those days (the overview's subscriptions and contracts of a period link here)."""
    stage = request.GET.get("reached", "")
    start = parse_date(request.GET.get("start"))
    end = parse_date(request.GET.get("end"))
    if stage not in Opportunity.Stage.values or not start or not end or end < start:
        return None
    midnight = datetime.min.time()
    return {
        "stage": stage,
        "label": Opportunity.Stage(stage).label,
        "start": start,
        "end": end,
        "since": timezone.make_aware(datetime.combine(start, midnight)),
        "until": timezone.make_aware(
            datetime.combine(end + timedelta(days=1), midnight)
        ),
    }


@see_required("sales.view_sales_desk")
def opportunity_board(request: HttpRequest) -> HttpResponse:
    project = None
    if project_id := parse_id(request.GET.get("project")):
        project = Project.objects.filter(pk=project_id).first()
    board = selectors.deals_by_stage(user=request.user, project=project)
    columns = [
        (stage, Opportunity.Stage(stage).label, board[stage])
        for stage in Opportunity.OPEN_STAGES
    ]
    return render(
        request,
        "sales/opportunity_board.html",
        {"columns": columns, "project": project, "projects": Project.objects.all()},
    )


@see_required("sales.view_sales_desk")
def opportunity_detail(request: HttpRequest, pk: int) -> HttpResponse:
    deal = _visible_deal(request, pk)
    items = list(deal.payment_items.all())
    totals = {
        "due": sum((i.amount for i in items), start=Decimal("0")),
        "received": sum((i.received for i in items), start=Decimal("0")),
    }
    return render(
        request,
        "sales/opportunity_detail.html",
        {
            "deal": deal,
            "quote": quote(unit=deal.unit, discount_percent=deal.discount_percent)
            if deal.unit
            else None,
            "discounts": deal.discount_requests.select_related(
                "requested_by", "decided_by"
            ).order_by("-requested_at")[:10],
            "items": items,
            "totals": totals,
            "discount_form": DiscountForm(),
            "change_form": DealChangeForm(opportunity=deal, user=request.user)
            if deal.stage == Opportunity.Stage.SUBSCRIBED
            else None,
            "deal_changes": deal.changes.select_related(
                "new_unit", "new_customer", "requested_by", "decided_by"
            ).order_by("-requested_at")[:10],
            "plan_form": PaymentPlanForm(),
            "receipt_form": ReceiptForm(
                opportunity=deal, initial={"received_on": timezone.localdate()}
            ),
            "move_form": StageMoveForm(opportunity=deal),
            "changes": deal.stage_changes.select_related("changed_by").order_by(
                "-changed_at"
            )[:50],
            "hold": deal.holds.filter(status=UnitHold.Status.ACTIVE)
            .select_related("unit")
            .first(),
            "mobile_display": deal.customer.mobile_for(request.user),
        },
    )


@action_required("sales.use_sales")
@require_POST
def opportunity_move(request: HttpRequest, pk: int) -> HttpResponse:
    deal = _visible_deal(request, pk)
    form = StageMoveForm(request.POST, opportunity=deal)
    if form.is_valid():
        try:
            with transaction.atomic():
                locked = Opportunity.objects.select_for_update().get(pk=deal.pk)
                if form.cleaned_data["stage"] == Opportunity.Stage.LOST:
                    for hold in locked.holds.filter(status=UnitHold.Status.ACTIVE):
                        services.unit_release(actor=request.user, hold=hold)
                    locked.refresh_from_db()
                locked.move_to(
                    form.cleaned_data["stage"],
                    actor=request.user,
                    reason=form.cleaned_data["lost_reason"],
                    note=form.cleaned_data["note"],
                )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Stage changed."))
    else:
        for error in form.errors.values():
            messages.error(request, " ".join(error))
    return redirect(deal)


@action_required("sales.use_sales")
def opportunity_open(request: HttpRequest, customer_pk: int) -> HttpResponse:
    customer = get_object_or_404(
        Customer.objects.editable_by(request.user), pk=customer_pk
    )
    form = OpportunityOpenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        deal = services.opportunity_open(
            actor=request.user, customer=customer, project=form.cleaned_data["project"]
        )
        messages.success(request, _("Deal opened."))
        return redirect(deal)
    return render(
        request, "sales/opportunity_form.html", {"form": form, "customer": customer}
    )


@action_required("sales.use_sales")
@require_POST
def opportunity_discount(request: HttpRequest, pk: int) -> HttpResponse:
    deal = _visible_deal(request, pk)
    form = DiscountForm(request.POST)
    if not form.is_valid():
        _form_errors_to_messages(request, form)
        return redirect(deal)
    try:
        result = services.discount_request(
            actor=request.user, opportunity=deal, **form.cleaned_data
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if result.status == DiscountRequest.Status.APPROVED:
            messages.success(request, _("Discount granted."))
        else:
            messages.info(
                request,
                _("The discount is above your limit and waits for a sales manager."),
            )
    return redirect(deal)


@see_required("sales.view_sales_management")
def approval_list(request: HttpRequest) -> HttpResponse:
    pending = (
        DiscountRequest.objects.filter(
            status=DiscountRequest.Status.PENDING,
            opportunity__in=Opportunity.objects.visible_to(request.user),
        )
        .select_related(
            "opportunity__customer",
            "opportunity__unit__building__project",
            "opportunity__project",
            "requested_by",
        )
        .order_by("requested_at")
    )
    page = paginate(pending, page=request.GET.get("page"))
    for item in page.items:
        # A deal whose hold was released since the request has no price to show.
        unit = item.opportunity.unit
        item.quote = unit and quote(unit=unit, discount_percent=item.percent)
    changes = (
        DealChange.objects.filter(
            status=DealChange.Status.PENDING,
            opportunity__in=Opportunity.objects.visible_to(request.user),
        )
        .select_related(
            "opportunity__customer",
            "opportunity__unit__building__project",
            "new_unit__building__project",
            "new_customer",
            "requested_by",
        )
        .order_by("requested_at")[:100]
    )
    return render(
        request,
        "sales/approval_list.html",
        {"page": page, "form": DiscountDecisionForm(), "changes": changes},
    )


@action_required("sales.manage_sales")
@require_POST
def approval_decide(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(request, DiscountRequest, pk, services.discount_decide, "request")


@action_required("sales.use_sales")
@require_POST
def opportunity_contract(request: HttpRequest, pk: int) -> HttpResponse:
    deal = _visible_deal(request, pk)
    try:
        services.opportunity_contract(actor=request.user, opportunity=deal)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Contract recorded."))
    return redirect(deal)


@action_required("sales.use_sales")
@require_POST
def payment_plan(request: HttpRequest, pk: int) -> HttpResponse:
    deal = _visible_deal(request, pk)
    form = PaymentPlanForm(request.POST)
    if not form.is_valid():
        _form_errors_to_messages(request, form)
        return redirect(deal)
    try:
        services.payment_plan_create(
            actor=request.user, opportunity=deal, **form.cleaned_data
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Payment plan saved."))
    return redirect(deal)


@action_required("sales.use_sales")
@require_POST
def receipt_create(request: HttpRequest, pk: int) -> HttpResponse:
    deal = _visible_deal(request, pk)
    form = ReceiptForm(request.POST, opportunity=deal)
    if not form.is_valid():
        _form_errors_to_messages(request, form)
        return redirect(deal)
    try:
        services.receipt_record(actor=request.user, **form.cleaned_data)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Receipt recorded."))
    return redirect(deal)


@see_required("sales.view_sales_desk")
def payments_overdue(request: HttpRequest) -> HttpResponse:
    items = (
        PaymentItem.objects.filter(
            due_date__lt=timezone.localdate(),
            received__lt=F("amount"),
            opportunity__in=Opportunity.objects.visible_to(request.user),
        )
        .select_related(
            "opportunity__customer",
            "opportunity__unit__building__project",
            "opportunity__consultant",
        )
        .order_by("due_date", "pk")
    )
    return render(
        request,
        "sales/payment_overdue.html",
        {"page": paginate(items, page=request.GET.get("page"))},
    )


@see_required("sales.view_sales_desk")
def opportunity_print(request: HttpRequest, pk: int, document: str) -> HttpResponse:
    """Print-ready unit-selection confirmation (选房确认单) or subscription agreement (认购书)."""
    deal = _visible_deal(request, pk)
    if document not in ("selection", "subscription") or deal.unit is None:
        raise Http404
    if document == "subscription" and deal.stage not in (
        Opportunity.Stage.SUBSCRIBED,
        Opportunity.Stage.CONTRACTED,
        Opportunity.Stage.PAID,
    ):
        raise Http404
    items = list(deal.payment_items.all())
    return render(
        request,
        f"sales/print_{document}.html",
        {
            "deal": deal,
            "quote": quote(unit=deal.unit, discount_percent=deal.discount_percent),
            "items": items,
            # The deposit the buyer pays on signing the subscription (定金).
            "deposit": next(
                (i for i in items if i.kind == PaymentItem.Kind.DEPOSIT), None
            ),
            "mobile_display": deal.customer.mobile_for(request.user),
            "id_number_display": deal.customer.id_number_for(request.user),
            "today": timezone.localdate(),
        },
    )


def _form_errors_to_messages(request: HttpRequest, form) -> None:
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        messages.error(
            request, f"{label}: {' '.join(errors)}" if label else " ".join(errors)
        )


@see_required("sales.view_sales_management")
def sales_dashboard(request: HttpRequest) -> HttpResponse:
    form = DashboardFilterForm(request.GET)
    form.is_valid()  # invalid values fall back to the defaults and show their error
    data = form.cleaned_data
    board = dashboard.sales_dashboard(
        user=request.user,
        start=data["start"],
        end=data["end"],
        project=data.get("project"),
    )
    charts = {
        "funnel": {
            "labels": [r["label"] for r in board.funnel],
            "values": [r["value"] for r in board.funnel],
        },
        "months": {
            "labels": [m["month"] for m in board.months],
            "contracted": [float(m["contracted"]) for m in board.months],
            "collected": [float(m["collected"]) for m in board.months],
        },
        "sell": {
            "labels": [b["building"] for b in board.sell_through],
            "rates": [b["rate"] for b in board.sell_through],
        },
    }
    return render(
        request,
        "sales/dashboard.html",
        {
            "board": board,
            "form": form,
            "charts": charts,
            "cache_minutes": dashboard.CACHE_SECONDS // 60,
        },
    )


@action_required("sales.use_sales")
@require_POST
def deal_change_create(request: HttpRequest, pk: int) -> HttpResponse:
    deal = _visible_deal(request, pk)
    form = DealChangeForm(request.POST, opportunity=deal, user=request.user)
    if not form.is_valid():
        _form_errors_to_messages(request, form)
        return redirect(deal)
    data = form.cleaned_data
    try:
        services.deal_change_request(
            actor=request.user,
            opportunity=deal,
            kind=data["kind"],
            reason=data["reason"],
            new_unit=data.get("new_unit")
            if data["kind"] == DealChange.Kind.CHANGE_UNIT
            else None,
            new_customer=data.get("new_customer")
            if data["kind"] == DealChange.Kind.CHANGE_BUYER
            else None,
        )
    except services.UnitUnavailable:
        messages.error(request, _("The new unit is no longer available."))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.info(request, _("The change waits for a sales manager's approval."))
    return redirect(deal)


@action_required("sales.manage_sales")
@require_POST
def deal_change_decide(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(request, DealChange, pk, services.deal_change_decide, "change")


def _decide(
    request: HttpRequest, model, pk: int, decide, argument: str
) -> HttpResponse:
    """A sales manager approves or rejects something waiting in the approvals queue."""
    item = get_object_or_404(
        model, pk=pk, opportunity__in=Opportunity.objects.visible_to(request.user)
    )
    form = DiscountDecisionForm(request.POST)
    if form.is_valid():
        try:
            decide(
                actor=request.user,
                approve=form.cleaned_data["decision"] == "approve",
                note=form.cleaned_data["note"],
                **{argument: item},
            )
        except services.UnitUnavailable:
            messages.error(
                request, _("The new unit was sold meanwhile; refuse the change.")
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Decision recorded."))
    return redirect("sales:approval-list")


@action_required("sales.manage_inventory")
def price_plan(request: HttpRequest, pk: int) -> HttpResponse:
    """Reprice many units: fill the form, see the preview, then apply it."""
    building = get_object_or_404(Building.objects.select_related("project"), pk=pk)
    form = PricePlanForm(request.POST or None)
    preview = None
    if request.method == "POST" and form.is_valid():
        try:
            if request.POST.get("confirm") == "1":
                count = services.price_plan_apply(
                    actor=request.user,
                    building=building,
                    reason=form.cleaned_data["reason"],
                    **form.criteria(),
                )
                messages.success(
                    request, _("%(count)s unit prices changed.") % {"count": count}
                )
                return redirect(building)
            preview = services.price_plan_preview(building=building, **form.criteria())
        except ValidationError as exc:
            form.add_error(None, exc)
    return render(
        request,
        "sales/price_plan.html",
        {"building": building, "form": form, "preview": preview},
    )


# The dry run's verdicts shown on the page: rows with errors first.
UNIT_IMPORT_SHOWN_ROWS = 200


@action_required("sales.manage_inventory")
def unit_import(request: HttpRequest) -> HttpResponse:
    """Upload → dry run in a worker, polled → every row's verdict → import all or
    nothing. No request reads more of the file than its zip directory."""
    form = UnitImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and request.POST.get("token"):
        token = request.POST["token"]
        saved = unit_import_service.units_check_state(token=token, actor=request.user)
        if saved is None or saved["status"] != unit_import_service.CHECKED:
            messages.error(
                request, _("The dry run has expired; upload the file again.")
            )
            return redirect("sales:unit-import")
        project = get_object_or_404(Project, pk=saved["project"])
        try:
            count = unit_import_service.units_import(
                actor=request.user, project=project, rows=saved["rows"]
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("sales:unit-import")
        cache.delete(unit_import_service.CHECK_CACHE.format(token=token))
        messages.success(request, _("%(count)s units imported.") % {"count": count})
        return redirect("sales:home")
    if request.method == "POST" and form.is_valid():
        try:
            token = unit_import_service.units_check_queue(
                actor=request.user,
                project=form.cleaned_data["project"],
                upload=form.cleaned_data["file"],
            )
        except ValidationError as exc:
            form.add_error("file", exc)
        else:
            return redirect(f"{reverse('sales:unit-import')}?check={token}")
    context: dict = {"form": form, "rows": None, "token": "", "error_count": 0}
    check = request.GET.get("check", "")
    if request.method == "GET" and check:
        state = unit_import_service.units_check_state(token=check, actor=request.user)
        if state is None:
            messages.error(
                request, _("The dry run has expired; upload the file again.")
            )
            return redirect("sales:unit-import")
        context["check"] = check
        context["status"] = state["status"]
        if state["status"] == unit_import_service.CHECKING:
            if request.htmx:
                return render(request, "sales/unit_import.html#checking", context)
        elif state["status"] == unit_import_service.REFUSED:
            context["refusal"] = state["error"]
        else:
            rows = state["rows"]
            errors = [row for row in rows if not row.ok]
            shown = (errors + [row for row in rows if row.ok])[:UNIT_IMPORT_SHOWN_ROWS]
            context.update(
                rows=rows,
                shown=sorted(shown, key=lambda row: row.line),
                error_count=len(errors),
                token="" if errors else check,
            )
        if request.htmx:
            # The dry run finished while the page polled: show its verdicts.
            response = HttpResponse()
            response["HX-Refresh"] = "true"
            return response
    return render(request, "sales/unit_import.html", context)


@see_required("sales.view_sales_desk")
def pool_list(request: HttpRequest) -> HttpResponse:
    """The public pool (公海): customers nobody protects, numbers masked, claimable."""
    qs = ownership.pool_queryset().filter(
        pk__in=Customer.objects.visible_to(request.user).values("pk")
    )
    query = request.GET.get("q", "").strip()
    if query:
        qs = qs.search(query, user=request.user)
    page = paginate(qs.ranked(), page=request.GET.get("page"))
    for customer in page.items:
        customer.mobile_display = customer.mobile_for(request.user)
    projects = list(Project.objects.filter(is_active=True).order_by("name"))
    return render(
        request,
        "sales/pool_list.html",
        {
            "page": page,
            "query": query,
            "filter_query": f"q={query}" if query else "",
            "projects": projects,
            "claims": [
                (
                    p,
                    ownership.claims_today(request.user, p),
                    ownership.current_rule(p).daily_claim_cap,
                )
                for p in projects
            ],
        },
    )


@action_required("sales.use_sales")
@require_POST
def pool_claim(request: HttpRequest, customer_pk: int) -> HttpResponse:
    customer = get_object_or_404(ownership.pool_queryset(), pk=customer_pk)
    project = get_object_or_404(
        Project, pk=parse_id(request.POST.get("project")) or 0, is_active=True
    )
    if not request.user.has_perm("customers.scope_own"):
        raise PermissionDenied
    try:
        ownership.pool_claim(actor=request.user, customer=customer, project=project)
    except (ownership.ClaimRefused, ownership.RegistrationRefused) as exc:
        messages.error(
            request,
            str(exc)
            if isinstance(exc, ownership.ClaimRefused)
            else _("This customer is protected at this project."),
        )
        return redirect("sales:pool")
    messages.success(
        request,
        _("%(name)s is yours at %(project)s.")
        % {"name": customer.name, "project": project.name},
    )
    return redirect(customer)


@action_required("sales.manage_sales")
@require_POST
def registration_reassign(request: HttpRequest, pk: int) -> HttpResponse:
    registration = get_object_or_404(
        Registration.objects.select_related("customer"),
        pk=pk,
        customer__in=Customer.objects.visible_to(request.user),
    )
    target = get_object_or_404(
        User.objects.filter(is_active=True, team_id=request.user.team_id),
        pk=request.POST.get("consultant") or 0,
    )
    reason = request.POST.get("reason", "").strip()[:200]
    if not reason:
        messages.error(request, _("Give the reason for the reassignment."))
        return redirect(registration.customer)
    try:
        ownership.registration_reassign(
            actor=request.user,
            registration=registration,
            consultant=target,
            reason=reason,
        )
    except ownership.ClaimRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, _("Reassigned to %(name)s.") % {"name": target.display_name}
        )
    return redirect(registration.customer)


@action_required("sales.manage_sales", see="sales.view_sales_management")
def project_rules(request: HttpRequest, pk: int) -> HttpResponse:
    project = get_object_or_404(Project, pk=pk)
    current = ownership.current_rule(project)
    form = ProtectionRuleForm(
        request.POST or None,
        initial={
            name: getattr(current, name) for name in ProtectionRuleForm.Meta.fields
        },
    )
    if request.method == "POST" and form.is_valid():
        rule = ownership.rule_update(
            actor=request.user, project=project, **form.cleaned_data
        )
        messages.success(
            request,
            _("Rule version %(version)s is in force.") % {"version": rule.version},
        )
        return redirect("sales:project-rules", pk=project.pk)
    return render(
        request,
        "sales/project_rules.html",
        {
            "project": project,
            "form": form,
            "current": current,
            "history": project.protection_rules.select_related("created_by").order_by(
                "-version"
            )[:20],
        },
    )


@see_required("sales.view_sales_desk")
def my_day(request: HttpRequest) -> HttpResponse:
    context = selectors.my_day(user=request.user)
    context["digest_job"] = JobRun.objects.filter(name="follow_up_digest").first()
    return render(request, "sales/my_day.html", context)
