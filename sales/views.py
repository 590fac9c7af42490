"""The sales desk: the consultant's landing page, the sales-control grid, units and deals."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm_site import confirm, insight
from crm_site.models import JobRun, User
from crm_site.pagination import paginate
from crm_site.permissions import action_required, see_required
from crm_site.prepared import prepared_statements
from crm_site.replica import reads_from_replica
from crm_site.validation import parse_date, parse_id
from customers.forms import InteractionForm
from customers.models import Customer
from customers.selectors import customer_list, quick_log_rows
from sales import confirmations, dashboard, selectors, services
from sales.forms import (
    BuildingGenerateForm,
    CoBuyersForm,
    DashboardFilterForm,
    DealChangeForm,
    DiscountDecisionForm,
    DiscountForm,
    GridFilterForm,
    OpportunityOpenForm,
    PaymentPlanForm,
    PricePlanForm,
    ProtectionRuleForm,
    ReassignForm,
    ReceiptForm,
    ReserveForm,
    StageMoveForm,
    UnitImportForm,
)
from sales.models import (
    Building,
    DealChange,
    DepositRefund,
    DiscountRequest,
    Opportunity,
    StageChange,
    Unit,
    UnitHold,
)
from sales.models.approval import may_approve, withdraws
from sales.overview import overdue_payments, pending_approvals
from sales.pricing import change_effect, discount_effect, quote
from sales.services import ownership
from sales.services import unit_import as unit_import_service
from sales.services.changes import CHANGEABLE, settlement
from sales.services.co_buyers import (
    CO_BUYER_STAGES,
    co_buyer_candidates,
    deal_co_buyers_set,
)
from sales.services.deposits import deposits_visible_to
from sales.services.sessions import projects_visible_to


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
            "projects": projects_visible_to(request.user)
            .filter(is_active=True)
            .prefetch_related("buildings"),
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
    # ?screen=big: the office's wall screen — no navigation, full width, large type.
    big_screen = request.GET.get("screen") == "big"
    plain = request.GET.copy()
    plain.pop("screen", None)
    return {
        "building": building,
        "grid": grid,
        "filter_form": form,
        "query": request.GET.urlencode(),
        "big_screen": big_screen,
        "big_screen_query": f"{plain.urlencode()}&screen=big".lstrip("&"),
        "normal_query": plain.urlencode(),
    }


def _visible_building(request: HttpRequest, pk: int) -> Building:
    """A building of a project the user's team sells (404 otherwise)."""
    return get_object_or_404(
        Building.objects.select_related("project").filter(
            project__in=projects_visible_to(request.user)
        ),
        pk=pk,
    )


def _visible_unit(request: HttpRequest, pk: int) -> Unit:
    """A unit of a project the user's team sells (404 otherwise)."""
    return get_object_or_404(
        Unit.objects.select_related("building__project").filter(
            building__project__in=projects_visible_to(request.user)
        ),
        pk=pk,
    )


@see_required("sales.view_sales_desk")
@prepared_statements
def building_grid(request: HttpRequest, pk: int) -> HttpResponse:
    building = _visible_building(request, pk)
    return render(request, "sales/building_grid.html", _grid_context(request, building))


@see_required("sales.view_sales_desk")
def building_grid_cells(request: HttpRequest, pk: int) -> HttpResponse:
    """The grid alone: the page re-fetches it every few seconds so the office screen stays current."""
    building = _visible_building(request, pk)
    return render(
        request, "sales/building_grid.html#grid", _grid_context(request, building)
    )


@action_required("sales.manage_inventory")
def building_create(request: HttpRequest) -> HttpResponse:
    form = BuildingGenerateForm(request.POST or None, user=request.user)
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
    unit = _visible_unit(request, pk)
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
    # A hold past its deadline is over before the five-minute sweep marks it:
    # unit_reserve expires it under the unit's lock, so the hold form is offered.
    hold_lapsed = (
        unit.status == Unit.Status.RESERVED
        and hold is not None
        and hold.held_until <= timezone.now()
    )
    return render(
        request,
        "sales/unit_detail.html",
        {
            "unit": unit,
            "hold": hold,
            "hold_lapsed": hold_lapsed,
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
    unit = _visible_unit(request, pk)
    form = ReserveForm(request.POST, user=request.user, project=unit.building.project)
    if not form.is_valid():
        for error in form.errors.values():
            messages.error(request, " ".join(error))
        return redirect(unit)
    if not form.cleaned_data.get("opportunity") and ownership.protected_by_another(
        customer=form.cleaned_data["customer"],
        project=unit.building.project,
        user=request.user,
    ):
        messages.error(request, _("This customer is protected at this project."))
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
    hold = get_object_or_404(
        UnitHold.objects.select_related("unit__building__project"),
        opportunity=deal,
        status=UnitHold.Status.ACTIVE,
    )
    if not confirm.confirmed(request):
        return confirm.ask(request, confirmations.release(deal, hold=hold), back=deal)
    services.unit_release(actor=request.user, hold=hold)
    messages.success(request, confirmations.released(deal, unit=hold.unit))
    return redirect(deal)


# A deal that may still subscribe (the service checks the unit): asked first.
SUBSCRIBABLE = (
    Opportunity.Stage.NEW,
    Opportunity.Stage.CONTACTED,
    Opportunity.Stage.VISITED,
    Opportunity.Stage.RESERVED,
)


@action_required("sales.use_sales")
@require_POST
def opportunity_subscribe(request: HttpRequest, pk: int) -> HttpResponse:
    deal = _visible_deal(request, pk)
    if deal.stage in SUBSCRIBABLE and deal.unit and not confirm.confirmed(request):
        return confirm.ask(request, confirmations.subscribe(deal), back=deal)
    try:
        deal = services.unit_subscribe(actor=request.user, opportunity=deal)
    except services.UnitUnavailable:
        messages.error(request, _("The unit is no longer available."))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, confirmations.subscribed(deal))
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
    if project_id := parse_id(project):
        qs = qs.filter(project_id=project_id)
    consultant = request.GET.get("consultant", "")
    if consultant_id := parse_id(consultant):
        qs = qs.filter(consultant_id=consultant_id)
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
    # The rows behind an explorer cell (crm_site.insight).
    qs, drill = insight.drill_apply(request, qs)
    page = paginate(qs, page=request.GET.get("page"))
    filters = request.GET.copy()
    filters.pop("page", None)
    return render(
        request,
        "sales/opportunity_list.html",
        {
            "page": page,
            "drill": drill,
            "stage": stage,
            "project": project,
            "stages": Opportunity.Stage.choices,
            "projects": projects_visible_to(request.user),
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
    # Only a project the user's team sells: another team's is ignored as an unknown
    # id would be (the page would name it and filter by it).
    project = None
    if project_id := parse_id(request.GET.get("project")):
        project = projects_visible_to(request.user).filter(pk=project_id).first()
    columns = selectors.deal_board(user=request.user, project=project)
    return render(
        request,
        "sales/opportunity_board.html",
        {
            "columns": columns,
            "total_count": sum(c.count for c in columns),
            "total_amount": sum((c.amount for c in columns), start=Decimal("0")),
            "project": project,
            "projects": projects_visible_to(request.user),
        },
    )


@see_required("sales.view_sales_desk")
@prepared_statements
def opportunity_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _render_deal(request, _visible_deal(request, pk))


def _render_deal(
    request: HttpRequest,
    deal: Opportunity,
    *,
    change_form: DealChangeForm | None = None,
    bound: dict | None = None,
    status: int = 200,
) -> HttpResponse:
    """The deal page; a change form that did not validate is shown with its errors,
    as is any of its other forms given in ``bound`` (its context name: the form),
    each message next to its field and what was typed kept.
    While a change waits for approval no other can be asked (deal_change_request
    refuses it): the card says so instead of offering the form again."""
    deal_changes = list(
        deal.changes.select_related(
            "new_unit", "new_customer", "requested_by", "decided_by"
        ).order_by("-requested_at")[:10]
    )
    # At most one waits at a time, and none is asked after it: it is the newest.
    change_pending = bool(deal_changes) and (
        deal_changes[0].status == DealChange.Status.PENDING
    )
    if change_form is None and deal.stage in CHANGEABLE and not change_pending:
        change_form = DealChangeForm(opportunity=deal, user=request.user)
    if change_form is not None:
        # A deal paid in full may be cancelled or change its buyer, not its unit.
        change_form.fields["kind"].choices = [
            (value, label)
            for value, label in DealChange.Kind.choices
            if value in CHANGEABLE.get(deal.stage, ())
        ]
    items = list(deal.payment_items.all())
    co_buyers = [row.customer for row in deal.co_buyers.select_related("customer")]
    candidates = co_buyer_candidates(deal)
    hold = (
        deal.holds.filter(status=UnitHold.Status.ACTIVE).select_related("unit").first()
    )
    totals = {
        "due": sum((i.amount for i in items), start=Decimal("0")),
        "received": sum((i.received for i in items), start=Decimal("0")),
    }
    context = {
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
        "change_form": change_form,
        "unit_picker": _unit_picker(deal, change_form)
        if change_form is not None
        else None,
        "deal_changes": deal_changes,
        "change_pending": change_pending and deal.stage in CHANGEABLE,
        "refunds": deal.refunds.select_related("paid_by").order_by("-created_at"),
        "commissions": deal.commissions.select_related("consultant").order_by(
            "accrued_at"
        ),
        "plan_form": PaymentPlanForm(),
        "receipt_form": ReceiptForm(
            opportunity=deal, initial={"received_on": timezone.localdate()}
        ),
        "move_form": StageMoveForm(opportunity=deal),
        "changes": deal.stage_changes.select_related("changed_by").order_by(
            "-changed_at"
        )[:50],
        "hold": hold,
        "confirm": confirmations.for_deal(deal, hold=hold, items=items)
        if request.user.has_perm("sales.use_sales")
        else {},
        "mobile_display": deal.customer.mobile_for(request.user),
        "co_buyers": co_buyers,
        "co_buyers_form": CoBuyersForm(
            candidates=candidates,
            initial={"co_buyers": [c.pk for c in co_buyers]},
        )
        if deal.stage in CO_BUYER_STAGES and deal.customer.household_id
        else None,
    }
    context.update(bound or {})
    return render(request, "sales/opportunity_detail.html", context, status=status)


def _unit_picker(deal: Opportunity, form: DealChangeForm) -> dict:
    """The change form's unit picker: the project's buildings and the first available
    units (as last filtered when the form comes back with errors); the picker's
    fields then ask deal_unit_options for the rest."""
    data = form.data if form.is_bound else {}
    filters = {
        "building_id": parse_id(data.get("building")),
        "floor": _parse_floor(data.get("floor")),
        "text": (data.get("q") or "").strip()[:20],
    }
    return {
        "buildings": Building.objects.filter(project_id=deal.project_id).order_by(
            "name"
        ),
        "choices": selectors.units_available_for_change(
            project_id=deal.project_id, **filters
        ),
        "selected": parse_id(data.get("new_unit")),
        **filters,
    }


def _parse_floor(value: str | None) -> int | None:
    try:
        floor = int((value or "").strip())
    except ValueError:
        return None
    return floor if -20 <= floor <= 300 else None


@see_required("sales.view_sales_desk")
def deal_unit_options(request: HttpRequest, pk: int) -> HttpResponse:
    """The unit picker's matches (htmx): available units of the deal's project by
    building, floor and number."""
    deal = _visible_deal(request, pk)
    return render(
        request,
        "sales/_unit_picker.html#options",
        {
            "deal": deal,
            "choices": selectors.units_available_for_change(
                project_id=deal.project_id,
                # Another project's building matches nothing: the project filters.
                building_id=parse_id(request.GET.get("building")),
                floor=_parse_floor(request.GET.get("floor")),
                text=request.GET.get("q", ""),
            ),
            "selected": parse_id(request.GET.get("new_unit")),
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
                stage = form.cleaned_data["stage"]
                # The form was checked against the deal as read before the lock; a
                # subscription or a hold in another tab may have moved it since.
                if stage not in StageMoveForm.stages_offered(locked):
                    raise ValidationError(
                        _("A deal cannot move from %(old)s to %(new)s.")
                        % {
                            "old": locked.get_stage_display(),
                            "new": Opportunity.Stage(stage).label,
                        }
                    )
                if stage == Opportunity.Stage.LOST:
                    for hold in locked.holds.filter(status=UnitHold.Status.ACTIVE):
                        services.unit_release(actor=request.user, hold=hold)
                    locked.refresh_from_db()
                locked.move_to(
                    stage,
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
@require_POST
def opportunity_co_buyers(request: HttpRequest, pk: int) -> HttpResponse:
    """Name the household members who buy with the buyer (共同购房人)."""
    deal = _visible_deal(request, pk)
    form = CoBuyersForm(request.POST, candidates=co_buyer_candidates(deal))
    if not form.is_valid():
        return _render_deal(request, deal, bound={"co_buyers_form": form}, status=400)
    chosen = list(form.cleaned_data["co_buyers"])
    try:
        changed = deal_co_buyers_set(actor=request.user, deal=deal, customers=chosen)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if not changed:
            messages.info(request, _("The co-buyers are unchanged."))
        elif chosen:
            messages.success(
                request,
                _(
                    "Co-buyers on this deal: %(names)s. They are named on the "
                    "selection confirmation and the subscription agreement."
                )
                % {"names": "、".join(c.name for c in chosen)},
            )
        else:
            messages.success(
                request,
                _("No co-buyer now: the buyer alone is named on the documents."),
            )
    return redirect(deal)


@action_required("sales.use_sales")
def opportunity_open(request: HttpRequest, customer_pk: int) -> HttpResponse:
    customer = get_object_or_404(
        Customer.objects.editable_by(request.user), pk=customer_pk
    )
    form = OpportunityOpenForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        project = form.cleaned_data["project"]
        if ownership.protected_by_another(
            customer=customer, project=project, user=request.user
        ):
            form.add_error("project", _("This customer is protected at this project."))
        else:
            deal = services.opportunity_open(
                actor=request.user, customer=customer, project=project
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
        return _render_deal(request, deal, bound={"discount_form": form}, status=400)
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
    """Both queues the overview's "approvals waiting" counts, each paginated on its
    own (changes by ?changes_page, discounts by ?page), so none is cut off."""
    project_id = parse_id(request.GET.get("project"))
    discounts, deal_changes = pending_approvals(
        user=request.user, project_id=project_id
    )
    pending = (
        discounts.select_related(
            "opportunity__customer",
            "opportunity__unit__building__project",
            "opportunity__project",
            "requested_by",
        )
        .prefetch_related(*selectors.deal_history_prefetches())
        .order_by("requested_at", "pk")
    )
    page = paginate(pending, page=request.GET.get("page"))
    for item in page.items:
        # A deal whose hold was released since the request has no price to show.
        item.effect = discount_effect(item)
        item.history = selectors.deal_history(item.opportunity)
        item.asks = confirmations.for_decision(item, confirmations.discount_decision)
        item.may_approve = may_approve(item, request.user)
    changes_page = paginate(
        deal_changes.select_related(
            "opportunity__customer",
            "opportunity__project",
            "opportunity__unit__building__project",
            "new_unit__building__project",
            "new_customer",
            "requested_by",
            "opportunity__project__change_rule",
        )
        .prefetch_related(
            *selectors.deal_history_prefetches(),
            "opportunity__payment_items",
            # Money an earlier change owes back is not the buyer's any more.
            "opportunity__refunds",
            # The approval's dialog says when it ends a colleague's lapsed hold.
            Prefetch(
                "new_unit__holds",
                queryset=confirmations.told_lapsed_holds(),
                to_attr="lapsed_holds",
            ),
        )
        .order_by("requested_at", "pk"),
        page=request.GET.get("changes_page"),
    )
    for change in changes_page.items:
        change.effect = change_effect(change)
        # What the buyer gets back or pays, under the project's rule.
        change.money = settlement(
            deal=change.opportunity, kind=change.kind, new_unit=change.new_unit
        )
        change.history = selectors.deal_history(change.opportunity)
        change.asks = confirmations.for_decision(change, confirmations.change_decision)
        change.may_approve = may_approve(change, request.user)
    # Each list's page links keep the filter and the other list's page.
    project_query = {"project": project_id} if project_id else {}
    if changes_page.number > 1:
        discounts_query = {**project_query, "changes_page": changes_page.number}
    else:
        discounts_query = project_query
    if page.number > 1:
        changes_query = {**project_query, "page": page.number}
    else:
        changes_query = project_query
    return render(
        request,
        "sales/approval_list.html",
        {
            "page": page,
            "form": DiscountDecisionForm(),
            "changes": changes_page.items,
            "changes_page": changes_page,
            "filter_query": urlencode(discounts_query),
            "changes_filter_query": urlencode(changes_query),
            # Deposits of intent whose refund waits: decided on their own page.
            "deposit_refunds": DepositRefund.objects.filter(
                status=DepositRefund.Status.PENDING,
                deposit__in=deposits_visible_to(request.user),
            ).count(),
        },
    )


@action_required("sales.manage_sales")
@require_POST
def approval_decide(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(
        request,
        DiscountRequest.objects.all(),
        pk,
        services.discount_decide,
        "request",
        asked=confirmations.discount_decision,
        told=confirmations.discount_decided,
    )


@action_required("sales.use_sales")
@require_POST
def opportunity_contract(request: HttpRequest, pk: int) -> HttpResponse:
    deal = _visible_deal(request, pk)
    if deal.stage == Opportunity.Stage.SUBSCRIBED and not confirm.confirmed(request):
        items = list(deal.payment_items.all())
        return confirm.ask(
            request, confirmations.contract(deal, items=items), back=deal
        )
    try:
        deal = services.opportunity_contract(actor=request.user, opportunity=deal)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, confirmations.contracted(deal))
    return redirect(deal)


@action_required("sales.use_sales")
@require_POST
def payment_plan(request: HttpRequest, pk: int) -> HttpResponse:
    deal = _visible_deal(request, pk)
    form = PaymentPlanForm(request.POST)
    if not form.is_valid():
        return _render_deal(request, deal, bound={"plan_form": form}, status=400)
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
        return _render_deal(request, deal, bound={"receipt_form": form}, status=400)
    try:
        services.receipt_record(actor=request.user, **form.cleaned_data)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Receipt recorded."))
    return redirect(deal)


@see_required("sales.view_sales_desk")
def payments_overdue(request: HttpRequest) -> HttpResponse:
    project_id = parse_id(request.GET.get("project"))
    items = (
        overdue_payments(user=request.user, project_id=project_id)
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
        {
            "page": paginate(items, page=request.GET.get("page")),
            "filter_query": f"project={project_id}" if project_id else "",
        },
    )


@see_required("sales.view_sales_desk")
def opportunity_print(request: HttpRequest, pk: int, document: str) -> HttpResponse:
    """Print-ready unit-selection confirmation (选房确认单) or subscription agreement (认购书)."""
    deal = _visible_deal(request, pk)
    if document not in selectors.printable_documents(deal):
        raise Http404
    return render(
        request,
        f"sales/print_{document}.html",
        selectors.print_context(deal=deal, viewer=request.user),
    )


def _form_errors_to_messages(request: HttpRequest, form) -> None:
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        messages.error(
            request, f"{label}: {' '.join(errors)}" if label else " ".join(errors)
        )


@see_required("sales.view_sales_management")
@reads_from_replica
def sales_dashboard(request: HttpRequest) -> HttpResponse:
    form = DashboardFilterForm(request.GET, user=request.user)
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
            # The funnel's visits open the overview's list of the rows they count.
            "visits_url": reverse("sales:visit-list")
            + "?"
            + urlencode(
                {
                    "start": board.start.isoformat(),
                    "end": board.end.isoformat(),
                    **({"project": data["project"].pk} if data.get("project") else {}),
                }
            ),
        },
    )


@action_required("sales.use_sales")
@require_POST
def deal_change_create(request: HttpRequest, pk: int) -> HttpResponse:
    deal = _visible_deal(request, pk)
    form = DealChangeForm(request.POST, opportunity=deal, user=request.user)
    if not form.is_valid():
        # Shown next to its fields, with the unit picker as it was.
        return _render_deal(request, deal, change_form=form, status=400)
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
    return _decide(
        request,
        # The money as it stood when the manager decided: the message after the
        # decision (change_decided) says what the dialog said, not what is left once
        # the refund it created counts as paid back.
        DealChange.objects.select_related(
            "new_unit__building__project", "new_customer"
        ).prefetch_related("opportunity__payment_items", "opportunity__refunds"),
        pk,
        services.deal_change_decide,
        "change",
        asked=confirmations.change_decision,
        told=confirmations.change_decided,
    )


def _decide(
    request: HttpRequest,
    queryset,
    pk: int,
    decide,
    argument: str,
    *,
    asked,
    told,
) -> HttpResponse:
    """A sales manager approves or rejects something waiting in the approvals queue,
    having seen what the decision does (``asked``); ``told`` says what it did."""
    item = get_object_or_404(
        queryset.select_related(
            "opportunity__customer",
            "opportunity__unit__building__project",
            "opportunity__project",
            "requested_by",
        ),
        pk=pk,
        opportunity__in=Opportunity.objects.visible_to(request.user),
    )
    form = DiscountDecisionForm(request.POST)
    if form.is_valid():
        approve = form.cleaned_data["decision"] == "approve"
        # Who asked and takes it back (four eyes is about approving) is asked
        # nothing and told nobody: asking again undoes it.
        withdrawn = not approve and withdraws(item, request.user)
        if (
            item.status == item.Status.PENDING
            and not withdrawn
            and not confirm.confirmed(request)
        ):
            return confirm.ask(
                request, asked(item, approve=approve), back="sales:approval-list"
            )
        try:
            decided = decide(
                actor=request.user,
                approve=approve,
                note=form.cleaned_data["note"],
                **{argument: item},
            )
        except services.UnitUnavailable as exc:
            # Sold, or held again by a colleague, since the change was asked for.
            messages.error(
                request,
                _(
                    "Unit %(unit)s is no longer available (%(status)s); refuse the "
                    "change."
                )
                % {"unit": exc.unit.number, "status": exc.unit.get_status_display()},
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            if (
                item.status != item.Status.PENDING
                or decided.decided_by_id != request.user.pk
            ):
                messages.info(request, _("This was decided already."))
            elif withdrawn:
                messages.success(request, _("Your request was withdrawn."))
            else:
                messages.success(
                    request,
                    told(item, approved=decided.status == item.Status.APPROVED),
                )
    return redirect("sales:approval-list")


@action_required("sales.manage_inventory")
def price_plan(request: HttpRequest, pk: int) -> HttpResponse:
    """Reprice many units: fill the form, see the preview, then apply it."""
    building = get_object_or_404(
        Building.objects.select_related("project").filter(
            project__in=projects_visible_to(request.user)
        ),
        pk=pk,
    )
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
    form = UnitImportForm(
        request.POST or None, request.FILES or None, user=request.user
    )
    if request.method == "POST" and request.POST.get("token"):
        token = request.POST["token"]
        saved = unit_import_service.units_check_state(token=token, actor=request.user)
        if saved is None or saved["status"] != unit_import_service.CHECKED:
            messages.error(
                request, _("The dry run has expired; upload the file again.")
            )
            return redirect("sales:unit-import")
        project = get_object_or_404(
            projects_visible_to(request.user), pk=saved["project"]
        )
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
    qs = ownership.pool_claimable().filter(
        pk__in=Customer.objects.visible_to(request.user).values("pk")
    )
    # Cut to 100 characters, as every search box is.
    query = " ".join(request.GET.get("q", "").split())[:100]
    if query:
        qs = qs.search(query, user=request.user)
    page = paginate(qs.ranked(), page=request.GET.get("page"))
    for customer in page.items:
        customer.mobile_display = customer.mobile_for(request.user)
    projects = list(
        projects_visible_to(request.user).filter(is_active=True).order_by("name")
    )
    claimed = ownership.claims_today_by_project(request.user)
    rules = ownership.current_rules(projects)
    return render(
        request,
        "sales/pool_list.html",
        {
            "page": page,
            "query": query,
            # Encoded: the text may hold "&" or "#", which would cut the link short.
            "filter_query": urlencode({"q": query}) if query else "",
            "projects": projects,
            "claims": [
                (p, claimed.get(p.pk, 0), rules[p.pk].daily_claim_cap) for p in projects
            ],
        },
    )


@action_required("sales.use_sales")
@require_POST
def pool_claim(request: HttpRequest, customer_pk: int) -> HttpResponse:
    customer = get_object_or_404(ownership.pool_queryset(), pk=customer_pk)
    # Only at a project the user's team sells: the pool page offers no other.
    project = get_object_or_404(
        projects_visible_to(request.user),
        pk=parse_id(request.POST.get("project")) or 0,
        is_active=True,
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
        selectors.registrations_reassignable_by(request.user).select_related(
            "customer", "project"
        ),
        pk=pk,
    )
    form = ReassignForm(request.POST, user=request.user, project=registration.project)
    if not form.is_valid():
        _form_errors_to_messages(request, form)
        return redirect(registration.customer)
    target = form.cleaned_data["consultant"]
    try:
        ownership.registration_reassign(
            actor=request.user,
            registration=registration,
            consultant=target,
            reason=form.cleaned_data["reason"],
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
    # Only a project the manager's team sells: its rules decide whose customers
    # its consultants protect.
    project = get_object_or_404(projects_visible_to(request.user), pk=pk)
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
    # Rows worked out once (customers.selectors.quick_log_rows): the page's loops
    # only print. One blank quick-log form serves every row.
    user = request.user
    context["overdue_rows"] = quick_log_rows(
        (
            (c, _("Due %(day)s") % {"day": c.next_follow_up.strftime("%Y-%m-%d")})
            for c in context["overdue"]
        ),
        user=user,
        note_class="text-danger",
    )
    context["due_today_rows"] = quick_log_rows(
        ((c, "") for c in context["due_today"]), user=user
    )
    context["ending_rows"] = quick_log_rows(
        (
            (
                r.customer,
                _("%(project)s · protected until %(day)s")
                % {
                    "project": r.project.name,
                    "day": timezone.localtime(r.protected_until).strftime(
                        "%Y-%m-%d %H:%M"
                    ),
                },
            )
            for r in context["ending"]
        ),
        user=user,
        note_class="text-warning-emphasis",
    )
    context["log_form"] = InteractionForm()
    context["digest_job"] = JobRun.objects.filter(name="follow_up_digest").first()
    return render(request, "sales/my_day.html", context)
