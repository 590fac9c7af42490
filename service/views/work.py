"""Work orders on a request, the work-order queue, contractors and their chargebacks."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm_site import insight
from crm_site.audit import audit_change, audit_record, snapshot
from crm_site.models import AuditEntry
from crm_site.pagination import paginate
from crm_site.permissions import action_required, see_required
from service import services_work
from service.forms import (
    CancelForm,
    ChargebackForm,
    ContractorForm,
    ScheduleForm,
    SignOffForm,
    WorkOrderForm,
)
from service.models import Chargeback, Contractor, ServiceRequest, WorkOrder
from service.photos import photo_response
from service.selectors import (
    RANKING_CACHE_SECONDS,
    contractor_money,
    contractor_ranking,
    contractor_ranking_forget,
    contractor_scorecards,
)
from service.views.requests import (
    errors_to_form,
    render_detail,
    run_step,
    visible_request,
)


@action_required("service.use_service")
@require_POST
def work_order_create(request: HttpRequest, pk: int) -> HttpResponse:
    item = visible_request(request, pk)
    form = WorkOrderForm(request.POST)
    if form.is_valid():
        try:
            work_order = services_work.work_order_create(
                actor=request.user, request=item, **form.cleaned_data
            )
        except ValidationError as exc:
            errors_to_form(form, exc)
        else:
            messages.success(
                request,
                _("Work order WO%(pk)s created for %(who)s.")
                % {"pk": work_order.pk, "who": work_order.assignee_label},
            )
            return redirect(item)
    return render_detail(request, item, work_order_form=form, status=400)


def _work_order(request: HttpRequest, pk: int) -> WorkOrder:
    """A work order of a request the user may see (404 outside them)."""
    return get_object_or_404(
        WorkOrder.objects.filter(
            request__in=ServiceRequest.objects.visible_to(request.user)
        ).select_related("request", "contractor"),
        pk=pk,
    )


def _refused(request: HttpRequest, work_order: WorkOrder, form_name: str):
    """The request's page again, the work order's refused form bound (status 400):
    a note typed on site is not lost to a photo of the wrong kind."""

    def invalid(form) -> HttpResponse:
        return render_detail(
            request,
            visible_request(request, work_order.request_id),
            status=400,
            work_order_step=(work_order.pk, form_name, form),
        )

    return invalid


def _step(
    request: HttpRequest, pk: int, service, form_class, form_name: str
) -> HttpResponse:
    work_order = _work_order(request, pk)
    return run_step(
        request,
        service=service,
        form_class=form_class,
        target={"work_order": work_order},
        back=work_order.request,
        invalid=_refused(request, work_order, form_name),
    )


@action_required("service.use_service")
@require_POST
def work_order_schedule(request: HttpRequest, pk: int) -> HttpResponse:
    return _step(
        request, pk, services_work.work_order_schedule, ScheduleForm, "schedule_form"
    )


@action_required("service.use_service")
@require_POST
def work_order_sign_off(request: HttpRequest, pk: int) -> HttpResponse:
    """Only the request's receiver or a service manager signs off (403 for any other
    agent, before the form is read)."""
    work_order = _work_order(request, pk)
    if not services_work.may_sign_off(request.user, work_order.request):
        raise PermissionDenied(
            _("The request's receiver or a service manager signs the work off.")
        )
    return run_step(
        request,
        service=services_work.work_order_sign_off,
        form_class=SignOffForm,
        target={"work_order": work_order},
        back=work_order.request,
        invalid=_refused(request, work_order, "signoff_form"),
    )


@action_required("service.use_service")
@require_POST
def work_order_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    return _step(
        request, pk, services_work.work_order_cancel, CancelForm, "cancel_form"
    )


@see_required("service.view_service_desk")
def work_order_photo(request: HttpRequest, pk: int) -> FileResponse:
    """The sign-off photo, only to service staff (media is not served publicly)."""
    return photo_response(_work_order(request, pk).signoff_photo)


WORK_VIEWS = {
    "pending": WorkOrder.PENDING,
    "done": (WorkOrder.Status.DONE,),
    "cancelled": (WorkOrder.Status.CANCELLED,),
    "all": tuple(WorkOrder.Status.values),
}


@see_required("service.view_service_desk")
def work_order_list(request: HttpRequest) -> HttpResponse:
    qs = WorkOrder.objects.select_related(
        "contractor", "request__customer", "request__unit__building"
    )
    # The work orders behind an explorer cell or an insight figure, whatever their
    # status unless a tab is picked as well.
    qs, drill = insight.drill_apply(request, qs)
    view = request.GET.get("view", "all" if drill is not None else "pending")
    if view not in WORK_VIEWS:
        view = "pending"
    if view != "all":
        qs = qs.filter(status__in=WORK_VIEWS[view])
    order = ("appointment_at", "pk") if view == "pending" else ("-created_at", "-pk")
    query = {"view": view} | ({"drill": drill.token} if drill is not None else {})
    return render(
        request,
        "service/work_order_list.html",
        {
            "page": paginate(qs.order_by(*order), page=request.GET.get("page")),
            "view": view,
            "drill": drill,
            "filter_query": urlencode(query),
        },
    )


# Contractors --------------------------------------------------------------------------


@see_required("service.view_service_desk")
def contractor_list(request: HttpRequest) -> HttpResponse:
    """Contractors ranked by their scorecard."""
    show = request.GET.get("show", "active")
    if show != "all":
        show = "active"
    ranking = contractor_ranking(active_only=show == "active")
    page = paginate(ranking, page=request.GET.get("page"))
    return render(
        request,
        "service/contractor_list.html",
        {
            "page": page,
            "show": show,
            "filter_query": f"show={show}",
            "rank_offset": (page.number - 1) * 25,
            "cache_minutes": RANKING_CACHE_SECONDS // 60,
        },
    )


@see_required("service.view_service_desk")
def contractor_detail(request: HttpRequest, pk: int) -> HttpResponse:
    contractor = _scored(pk)
    return _contractor_page(request, contractor, ChargebackForm(contractor=contractor))


def _scored(pk: int) -> Contractor:
    found = contractor_scorecards(Contractor.objects.filter(pk=pk))
    if not found:
        raise Http404
    return found[0]


def _contractor_page(
    request: HttpRequest, contractor: Contractor, form: ChargebackForm, status=200
) -> HttpResponse:
    work = contractor.work_orders.select_related(
        "request__customer", "request__unit__building"
    ).order_by("-created_at", "-pk")
    return render(
        request,
        "service/contractor_detail.html",
        {
            "contractor": contractor,
            "page": paginate(work, page=request.GET.get("page")),
            "chargebacks": list(
                contractor.chargebacks.select_related("request", "work_order").order_by(
                    "-created_at"
                )[:50]
            ),
            "money": contractor_money(contractor),
            "chargeback_form": form,
            "may_manage": request.user.has_perm("service.manage_service"),
        },
        status=status,
    )


def _contractor_form(
    request: HttpRequest, contractor: Contractor | None = None
) -> HttpResponse:
    form = ContractorForm(request.POST or None, instance=contractor)
    # Read before the form writes the posted values onto the instance: the warranty
    # decides which chargebacks may be made, so every change is audited.
    before = snapshot(contractor, ContractorForm.Meta.fields) if contractor else None
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            saved = form.save()
            if before is None:
                audit_record(
                    actor=request.user, instance=saved, action=AuditEntry.Action.CREATE
                )
            else:
                audit_change(actor=request.user, instance=saved, before=before)
        contractor_ranking_forget()
        messages.success(request, _("Saved."))
        return redirect(saved)
    return render(
        request,
        "service/contractor_form.html",
        {"form": form, "contractor": contractor},
    )


@action_required("service.manage_service")
def contractor_create(request: HttpRequest) -> HttpResponse:
    return _contractor_form(request)


@action_required("service.manage_service")
def contractor_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _contractor_form(request, get_object_or_404(Contractor, pk=pk))


@action_required("service.manage_service")
@require_POST
def chargeback_create(request: HttpRequest, pk: int) -> HttpResponse:
    contractor = _scored(pk)
    form = ChargebackForm(request.POST, contractor=contractor)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services_work.chargeback_create(
                actor=request.user,
                work_order=data["work_order"],
                request=data["request_number"],
                amount=data["amount"],
                reason=data["reason"],
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict") and "request" in exc.error_dict:
                exc = ValidationError({"request_number": exc.error_dict["request"]})
            errors_to_form(form, exc)
        else:
            messages.success(request, _("Chargeback recorded."))
            return redirect(contractor)
    return _contractor_page(request, contractor, form, status=400)


@action_required("service.manage_service")
@require_POST
def chargeback_recover(request: HttpRequest, pk: int) -> HttpResponse:
    chargeback = get_object_or_404(
        Chargeback.objects.select_related("contractor"), pk=pk
    )
    if services_work.chargeback_recover(actor=request.user, chargeback=chargeback):
        messages.success(request, _("Marked as recovered."))
    return redirect(chargeback.contractor)
