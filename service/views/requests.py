"""The service desk: the queue, recording a request, and working it to the callback."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Case, Value, When
from django.forms import BaseForm
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm_site import confirm, insight
from crm_site.overview import moment
from crm_site.pagination import paginate
from crm_site.permissions import action_required, see_required
from crm_site.prepared import prepared_statements
from crm_site.validation import errors_text, parse_date, parse_id
from customers.models import Customer
from customers.selectors import customer_counts_by, customer_list
from service import confirmations, portal_requests, services, services_work
from service.forms import (
    AssignForm,
    CallbackForm,
    CancelForm,
    PhotosForm,
    RequestForm,
    ResolveForm,
    ScheduleForm,
    SignOffForm,
    WorkOrderForm,
)
from service.models import (
    Category,
    Department,
    RequestPhoto,
    ServiceRequest,
    overdue_q,
)
from service.photos import photo_response
from service.selectors import caller_lookup


@see_required("service.view_service_desk")
def service_home(request: HttpRequest) -> HttpResponse:
    counts = customer_counts_by(user=request.user, field="stage")
    owners = list(
        customer_list(user=request.user, stage=Customer.Stage.OWNER).order_by(
            "-updated_at", "-id"
        )[:10]
    )
    for customer in owners:
        customer.mobile_display = customer.mobile_for(request.user)
    now = timezone.now()
    mine = ServiceRequest.objects.filter(
        receiver=request.user, status__in=ServiceRequest.OPEN
    )
    return render(
        request,
        "service/service_home.html",
        {
            "owner_count": counts.get(Customer.Stage.OWNER, 0),
            "buyer_count": counts.get(Customer.Stage.BUYER, 0),
            "owners": owners,
            "my_open": mine.count(),
            "to_call_back": mine.filter(status=ServiceRequest.Status.RESOLVED).count(),
            "overdue": ServiceRequest.objects.overdue(now).count(),
        },
    )


@see_required("service.view_service_request")
def request_list(request: HttpRequest) -> HttpResponse:
    # The desk sees every request; whoever else records them, their own.
    qs = ServiceRequest.objects.visible_to(request.user).select_related(
        "customer", "receiver", "handler", "unit__building"
    )
    # The rows behind an explorer cell or an insight figure (crm_site.insight), shown
    # whatever their status unless a tab is picked as well.
    qs, drill = insight.drill_apply(request, qs)
    view = request.GET.get("view", "all" if drill is not None else "open")
    now = timezone.now()
    if view == "mine":
        qs = qs.filter(receiver=request.user, status__in=ServiceRequest.OPEN)
    elif view == "overdue":
        qs = qs.overdue(now)
    elif view == "callback":
        qs = qs.filter(status=ServiceRequest.Status.RESOLVED)
    elif view == "portal":
        # Owners' portal requests nobody has accepted yet (request_unaccepted_idx).
        qs = qs.filter(channel=ServiceRequest.Channel.PORTAL, receiver__isnull=True)
    elif view == "all":
        pass
    else:
        view = "open"
        qs = qs.filter(status__in=ServiceRequest.OPEN)
    qs, narrowed = _narrow(qs, request.GET)
    if view == "mine":
        # The agent's queue, the landing page of the desk: what is late comes first.
        qs = qs.annotate(
            late=Case(
                When(overdue_q(now), then=Value(0)),
                default=Value(1),
            )
        ).order_by("late", "resolution_due", "pk")
    elif view == "portal":
        qs = qs.order_by("received_at", "pk")
    elif view != "all":
        qs = qs.order_by("resolution_due", "pk")
    else:
        qs = qs.order_by("-received_at", "-pk")
    page = paginate(qs, page=request.GET.get("page"))
    return render(
        request,
        "service/request_list.html",
        {
            "page": page,
            "view": view,
            "narrowed": narrowed,
            "drill": drill,
            "filter_query": urlencode(
                {"view": view, **narrowed}
                | ({"drill": drill.token} if drill is not None else {})
            ),
        },
    )


def _narrow(qs, params) -> tuple:
    """Optional filters a cluster or an overview figure links with: building,
    category, project, channel (the owners' portal...), received since / from start
    to end."""
    narrowed: dict[str, str] = {}
    channel = params.get("channel", "")
    if channel in ServiceRequest.Channel.values:
        qs = qs.filter(channel=channel)
        narrowed["channel"] = channel
    building = params.get("building", "")
    if parse_id(building):
        qs = qs.filter(unit__building_id=parse_id(building))
        narrowed["building"] = building
    category = params.get("category", "")
    if category in Category.values:
        qs = qs.filter(category=category)
        narrowed["category"] = category
    project = parse_id(params.get("project"))
    if project:
        qs = qs.filter(unit__building__project_id=project)
        narrowed["project"] = str(project)
    since = parse_date(params.get("since")) or parse_date(params.get("start"))
    if since is not None:
        qs = qs.filter(received_at__gte=moment(since))
        narrowed["start"] = since.isoformat()
    end = parse_date(params.get("end"))
    if end is not None:
        qs = qs.filter(received_at__lt=moment(end + timedelta(days=1)))
        narrowed["end"] = end.isoformat()
    return qs, narrowed


def _prefill(data) -> dict:
    """The intake opened prefilled (the screen pop's "open a service request"): the
    caller's number or name and the channel of the call; the customer and unit are
    picked by the lookup from the same parameters."""
    initial = {"name": data.get("name", ""), "mobile": data.get("mobile", "")[:100]}
    if data.get("channel") in ServiceRequest.Channel.values:
        initial["channel"] = data["channel"]
    return initial


def _intake_context(
    request: HttpRequest, data, form: RequestForm | None = None
) -> dict:
    lookup = caller_lookup(
        user=request.user,
        text=data.get("mobile", ""),
        picked_id=parse_id(data.get("customer")),
    )
    return {
        "form": form or RequestForm(initial=_prefill(data)),
        "lookup": lookup,
        "unit_id": parse_id(data.get("unit")),
    }


@see_required("service.record_service_request")
def caller_lookup_view(request: HttpRequest) -> HttpResponse:
    """The callers under the intake's first field, re-rendered by htmx as the number
    or name is typed, and again when one is picked (their units)."""
    return render(
        request,
        "service/request_form.html#caller",
        _intake_context(request, request.GET),
    )


@action_required("service.record_service_request")
def request_create(request: HttpRequest) -> HttpResponse:
    """One-stop intake (首问负责制): whoever takes the call records it, for any caller,
    and is its first receiver."""
    form = RequestForm(
        request.POST or None, request.FILES or None, initial=_prefill(request.GET)
    )
    context = _intake_context(
        request, request.POST if request.method == "POST" else request.GET, form
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        lookup = context["lookup"]
        caller = lookup.picked
        unit = None
        if caller is None and (data["customer"] or lookup.mobile is None):
            form.add_error(
                "mobile",
                _("Pick the caller from the list again.")
                if data["customer"]
                else _(
                    "Pick the caller from the list, or type their full mobile number."
                ),
            )
        elif caller is not None and data["unit"]:
            unit = next((u for u in caller.owned_units if u.pk == data["unit"]), None)
            if unit is None:
                form.add_error("unit", _("Pick one of the caller's units."))
        if not form.errors:
            try:
                intake = services.request_intake(
                    actor=request.user,
                    caller=caller,
                    new_name=data["name"],
                    new_mobile=lookup.mobile or "",
                    unit=unit,
                    kind=data["kind"],
                    category=data["category"],
                    severity=data["severity"],
                    channel=data["channel"],
                    description=data["description"],
                    photos=data["photos"],
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(request, _recorded_message(request, intake))
                return redirect(intake.request)
    return render(request, "service/request_form.html", context)


def _when(at: datetime) -> str:
    return date_format(timezone.localtime(at), "Y-m-d H:i")


def _recorded_message(request: HttpRequest, intake: services.Intake) -> str:
    """What was recorded and what happens next, never just "saved"."""
    item = intake.request
    parts = []
    if intake.registered:
        parts.append(
            _("%(name)s was not on record and is now registered as a customer.")
            % {"name": item.customer.name}
        )
    if intake.as_enquiry:
        parts.append(_("The caller owns no unit, so this is recorded as an enquiry."))
    facts = {
        "number": item.number,
        "kind": item.get_kind_display(),
        "caller": item.customer.name,
        "unit": str(item.unit) if item.unit else "",
        "respond": _when(item.response_due),
        "resolve": _when(item.resolution_due),
    }
    if item.unit:
        recorded = _(
            "Request %(number)s recorded: %(kind)s from %(caller)s, unit %(unit)s. "
            "You are its first receiver. Respond by %(respond)s, resolve by "
            "%(resolve)s."
        )
    else:
        recorded = _(
            "Request %(number)s recorded: %(kind)s from %(caller)s. You are its "
            "first receiver. Respond by %(respond)s, resolve by %(resolve)s."
        )
    parts.append(recorded % facts)
    if request.user.has_perm("service.use_service"):
        parts.append(_("Next: hand it over to the department that fixes it, below."))
    else:
        parts.append(
            _(
                "The service desk hands it to the department that fixes it; you are "
                "notified when it is resolved."
            )
        )
    return " ".join(str(part) for part in parts)


def visible_request(request: HttpRequest, pk: int) -> ServiceRequest:
    return get_object_or_404(
        ServiceRequest.objects.visible_to(request.user).select_related(
            "customer", "receiver", "handler", "unit__building__project"
        ),
        pk=pk,
    )


@see_required("service.view_service_request")
@prepared_statements
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return render_detail(request, visible_request(request, pk))


@action_required("service.use_service")
@require_POST
def request_photos_add(request: HttpRequest, pk: int) -> HttpResponse:
    item = visible_request(request, pk)
    form = PhotosForm(request.POST, request.FILES)
    if not form.is_valid():
        return render_detail(request, item, status=400, photos_form=form)
    count = services.photos_add(
        actor=request.user, request=item, files=form.cleaned_data["photos"]
    )
    messages.success(request, _("%(count)s photos added.") % {"count": count})
    return redirect(item)


@see_required("service.view_service_desk")
def request_photo(request: HttpRequest, pk: int, photo_pk: int) -> FileResponse:
    item = visible_request(request, pk)
    return photo_response(
        get_object_or_404(RequestPhoto, pk=photo_pk, request=item).file
    )


def render_detail(
    request: HttpRequest, item: ServiceRequest, *, status: int = 200, **forms
) -> HttpResponse:
    """The request's page; a view whose form failed passes it back bound, so its
    errors show next to the fields."""
    from service.selectors import articles_suggested, cluster_of

    user = request.user
    # Whoever recorded a request sees it without the service desk (首问负责制): its
    # facts and steps, not the desk's photos, work orders and knowledge base.
    desk = user.has_perm("service.view_service_desk")
    cluster, cluster_requests = cluster_of(item) if desk else (None, [])
    work_orders = (
        list(item.work_orders.select_related("contractor").order_by("created_at", "pk"))
        if desk
        else []
    )
    # Each pending work order's step forms; the one whose step was refused gets its
    # bound form back (what was typed on site kept, the error next to its field).
    failed_pk, failed_name, failed_form = forms.get("work_order_step") or (0, "", None)
    for work_order in work_orders:
        work_order.schedule_form = ScheduleForm()
        work_order.signoff_form = SignOffForm()
        work_order.cancel_form = CancelForm()
        work_order.step_failed = work_order.pk == failed_pk
        if work_order.step_failed:
            setattr(work_order, failed_name, failed_form)
    return render(
        request,
        "service/request_detail.html",
        {
            "item": item,
            "desk": desk,
            "customer_visible": Customer.objects.visible_to(user)
            .filter(pk=item.customer_id)
            .exists(),
            "mobile_display": item.customer.mobile_for(user),
            "steps": item.steps.select_related("actor").order_by("-at", "-pk"),
            "escalations": item.escalations.order_by("level"),
            "assign_form": forms.get("assign_form") or AssignForm(),
            "resolve_form": forms.get("resolve_form") or ResolveForm(),
            "callback_form": forms.get("callback_form") or CallbackForm(),
            "work_order_form": forms.get("work_order_form") or WorkOrderForm(),
            "photos_form": forms.get("photos_form") or PhotosForm(),
            "photos": list(item.photos.order_by("uploaded_at", "pk")) if desk else [],
            "work_orders": work_orders,
            "articles": list(item.articles.order_by("title")) if desk else [],
            "suggested_articles": articles_suggested(item) if desk else [],
            "cluster": cluster,
            "cluster_requests": cluster_requests,
            "cluster_days": settings.SERVICE_CLUSTER_DAYS,
            "may_call_back": user.pk == item.receiver_id
            or user.has_perm("service.manage_service"),
            "may_sign_off": services_work.may_sign_off(user, item),
            "portal_rating": portal_requests.rating_of(item)
            if item.channel == ServiceRequest.Channel.PORTAL
            else None,
            "confirm": {"close": confirmations.close(item)}
            if item.status == ServiceRequest.Status.CALLED_BACK
            and user.has_perm("service.use_service")
            else {},
        },
        status=status,
    )


def run_step(
    request: HttpRequest,
    *,
    service,
    form_class,
    target: dict,
    back,
    invalid: Callable[[BaseForm], HttpResponse] | None = None,
    refusal_on_form: bool = False,
    told: Callable[[dict], str] | None = None,
) -> HttpResponse:
    """Run one workflow step from a POST: validate its form (if any), call the service
    with the target object(s), report the outcome, go back (POST-redirect-GET).
    A form that fails goes to ``invalid`` (the page again, the form bound: its
    errors next to its fields, what was typed kept), else its errors are a message.
    ``refusal_on_form``: the service's refusal goes to ``invalid`` too, on the form
    (a note typed at length is not lost to "open work orders first"). ``told``:
    what the step did, in words, from the form's data (else "Saved.")."""
    data = {}
    if form_class is not None:
        form = form_class(request.POST, request.FILES)
        if not form.is_valid():
            if invalid is not None:
                return invalid(form)
            messages.error(request, errors_text(form))
            return redirect(back)
        data = form.cleaned_data
    try:
        service(actor=request.user, **target, **data)
    except ValidationError as exc:
        if refusal_on_form and form_class is not None and invalid is not None:
            errors_to_form(form, exc)
            return invalid(form)
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, told(data) if told else _("Saved."))
    return redirect(back)


def errors_to_form(form: BaseForm, exc: ValidationError) -> None:
    """A service's refusal on the form: by field where it names one, else above it."""
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc)


def _act(
    request: HttpRequest,
    pk: int,
    service,
    form_class=None,
    form_name: str = "",
    *,
    refusal_on_form: bool = False,
    told: Callable[[dict], str] | None = None,
) -> HttpResponse:
    item = visible_request(request, pk)
    return run_step(
        request,
        service=service,
        form_class=form_class,
        target={"request": item},
        back=item,
        invalid=(
            lambda form: render_detail(request, item, status=400, **{form_name: form})
        )
        if form_name
        else None,
        refusal_on_form=refusal_on_form,
        told=told,
    )


@action_required("service.use_service")
@require_POST
def request_accept(request: HttpRequest, pk: int) -> HttpResponse:
    """Accept an owner's portal request: the agent becomes its first receiver."""
    item = visible_request(request, pk)
    try:
        portal_requests.request_accept(actor=request.user, request=item)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _(
                "You accepted %(number)s and are its first receiver. The owner has "
                "been told by message."
            )
            % {"number": item.number},
        )
    return redirect(item)


@action_required("service.use_service")
@require_POST
def request_assign(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(
        request,
        pk,
        services.request_assign,
        AssignForm,
        "assign_form",
        told=lambda data: (
            _("Handed over to %(department)s.")
            % {"department": Department(data["department"]).label}
        ),
    )


@action_required("service.use_service")
@require_POST
def request_start(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(
        request, pk, services.request_start, told=lambda data: _("Work started.")
    )


@action_required("service.use_service")
@require_POST
def request_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(
        request,
        pk,
        services.request_resolve,
        ResolveForm,
        "resolve_form",
        refusal_on_form=True,
        told=lambda data: _(
            "Resolved: call the owner back to hear whether it is fixed."
        ),
    )


@action_required("service.use_service")
@require_POST
def request_callback(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(
        request,
        pk,
        services.request_callback,
        CallbackForm,
        "callback_form",
        refusal_on_form=True,
        told=lambda data: (
            _("Callback recorded: the owner is satisfied; close it.")
            if data["satisfied"]
            else _(
                "Callback recorded: the owner is not satisfied. The request is back in "
                "progress and the service manager is told."
            )
        ),
    )


@action_required("service.use_service")
@require_POST
def request_close(request: HttpRequest, pk: int) -> HttpResponse:
    item = visible_request(request, pk)
    if item.status == ServiceRequest.Status.CALLED_BACK and not confirm.confirmed(
        request
    ):
        return confirm.ask(request, confirmations.close(item), back=item)
    try:
        services.request_close(actor=request.user, request=item)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, confirmations.closed(item))
    return redirect(item)
