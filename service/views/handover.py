"""Handover screens: batches, slots, owners' appointments and the unit inspection."""

from __future__ import annotations

from django.contrib import messages
from django.core import signing
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from crm_site.pagination import paginate
from crm_site.permissions import action_required, public, see_required
from service import handover as services
from service.forms_handover import (
    BatchForm,
    BookForm,
    ChecklistFormSet,
    InspectionFormSet,
    OwnerBookForm,
    SlotForm,
)
from service.models import (
    HandoverAppointment,
    HandoverBatch,
    HandoverSlot,
    Inspection,
    InspectionItem,
)
from service.photos import photo_response
from service.views.public import invalid_link, public_message

USE = "service.use_service"
MANAGE = "service.manage_service"


@see_required("service.view_service_desk")
def handover_list(request: HttpRequest) -> HttpResponse:
    batches = HandoverBatch.objects.select_related("building__project").annotate(
        units=Count(
            "appointments",
            filter=~Q(appointments__status=HandoverAppointment.Status.CANCELLED),
        ),
        done=Count(
            "appointments",
            filter=Q(appointments__status=HandoverAppointment.Status.HANDED_OVER),
        ),
    )
    page = paginate(batches.order_by("-starts_on", "-id"), page=request.GET.get("page"))
    return render(request, "service/handover_list.html", {"page": page})


@action_required("service.manage_service")
def handover_create(request: HttpRequest) -> HttpResponse:
    form = BatchForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        batch = services.batch_create(actor=request.user, **form.cleaned_data)
        messages.success(request, _("Handover batch created; add its slots."))
        return redirect(batch)
    return render(request, "service/handover_form.html", {"form": form})


def _batch(pk: int) -> HandoverBatch:
    return get_object_or_404(
        HandoverBatch.objects.select_related("building__project"), pk=pk
    )


@see_required("service.view_service_desk")
def handover_detail(request: HttpRequest, pk: int) -> HttpResponse:
    batch = _batch(pk)
    return _render_batch(request, batch, SlotForm())


def _render_batch(
    request: HttpRequest, batch: HandoverBatch, slot_form: SlotForm
) -> HttpResponse:
    status = request.GET.get("status", "")
    appointments = batch.appointments.select_related("customer", "unit", "slot")
    if status in HandoverAppointment.Status.values:
        appointments = appointments.filter(status=status)
    page = paginate(
        appointments.order_by("unit__floor", "unit__position", "pk"),
        page=request.GET.get("page"),
    )
    for appointment in page.items:
        appointment.mobile_display = appointment.customer.mobile_for(request.user)
    counts = dict(
        batch.appointments.values_list("status").annotate(n=Count("id")).order_by()
    )
    return render(
        request,
        "service/handover_detail.html",
        {
            "batch": batch,
            "slots": services.slots_with_load(batch),
            "page": page,
            "status": status,
            "statuses": [
                (value, label, counts.get(value, 0))
                for value, label in HandoverAppointment.Status.choices
            ],
            "filter_query": f"status={status}" if status else "",
            "slot_form": slot_form,
            "may_manage": request.user.has_perm(MANAGE),
            "takes_invitations": services.takes_invitations(batch),
        },
    )


@action_required("service.manage_service")
@require_POST
def handover_slot_add(request: HttpRequest, pk: int) -> HttpResponse:
    batch = _batch(pk)
    form = SlotForm(request.POST)
    if form.is_valid():
        try:
            services.slot_add(actor=request.user, batch=batch, **form.cleaned_data)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, _("Slot added."))
            return redirect(batch)
    return _render_batch(request, batch, form)


@action_required("service.manage_service")
def handover_checklist(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit the batch's inspection checklist: rooms, what is checked, the category."""
    batch = _batch(pk)
    formset = ChecklistFormSet(
        request.POST or None, initial=batch.checklist, prefix="rows"
    )
    if request.method == "POST" and formset.is_valid():
        rows = [
            form.cleaned_data
            for form in formset
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        try:
            services.checklist_update(actor=request.user, batch=batch, rows=rows)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Checklist saved."))
            return redirect(batch)
    return render(
        request,
        "service/handover_checklist.html",
        {"batch": batch, "formset": formset},
    )


@action_required("service.manage_service")
@require_POST
def handover_slot_change(request: HttpRequest, pk: int, slot_pk: int) -> HttpResponse:
    """A slot's new capacity from the batch page; 0 removes it."""
    batch = _batch(pk)
    slot = get_object_or_404(HandoverSlot, pk=slot_pk, batch=batch)
    try:
        capacity = int(request.POST.get("capacity", ""))
        if not 0 <= capacity <= 100:
            raise ValueError
    except ValueError:
        messages.error(request, _("Enter a capacity from 0 to 100."))
        return redirect(batch)
    try:
        kept = services.slot_change(actor=request.user, slot=slot, capacity=capacity)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Slot changed.") if kept else _("Slot removed."))
    return redirect(batch)


@action_required("service.manage_service")
@require_POST
def handover_invite(request: HttpRequest, pk: int) -> HttpResponse:
    batch = _batch(pk)
    try:
        count = services.batch_invite(actor=request.user, batch=batch)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(batch)
    messages.success(
        request,
        _("%(count)s owners invited; their notices are being sent.") % {"count": count},
    )
    return redirect(batch)


def _appointment(pk: int) -> HandoverAppointment:
    return get_object_or_404(
        HandoverAppointment.objects.select_related(
            "customer",
            "unit__building__project",
            "slot",
            "batch",
            "survey_invitation__response",
        ),
        pk=pk,
    )


def _inspection(pk: int) -> tuple[HandoverAppointment, Inspection]:
    """The appointment and its started inspection, or 404."""
    appointment = _appointment(pk)
    inspection = getattr(appointment, "inspection", None)
    if inspection is None:
        raise Http404
    return appointment, inspection


@see_required("service.view_service_desk")
def appointment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    appointment = _appointment(pk)
    return _render_appointment(request, appointment)


def _render_appointment(
    request: HttpRequest,
    appointment: HandoverAppointment,
    formset: InspectionFormSet | None = None,
) -> HttpResponse:
    inspection = getattr(appointment, "inspection", None)
    if inspection is not None and formset is None:
        formset = InspectionFormSet(
            queryset=inspection.items.select_related("repair_request").order_by(
                "position"
            )
        )
    locked = appointment.status == HandoverAppointment.Status.HANDED_OVER
    if locked:
        # The keys are handed over: the inspection is the record of that day.
        for form in formset or []:
            for field in form.fields.values():
                field.disabled = True
    slots = services.slots_with_load(appointment.batch)
    return render(
        request,
        "service/handover_appointment.html",
        {
            "appointment": appointment,
            "mobile_display": appointment.customer.mobile_for(request.user),
            "book_form": BookForm(slots=slots, initial={"slot": appointment.slot_id}),
            "inspection": inspection,
            "formset": formset,
            "inspection_locked": locked,
            "open_defects": sum(
                1
                for form in formset or []
                if form.instance.result == InspectionItem.Result.DEFECT
                and form.instance.repair_request_id is None
            ),
            "notices": appointment.notices.select_related("slot").order_by("pk"),
        },
    )


def _done(
    request: HttpRequest, appointment: HandoverAppointment, action
) -> HttpResponse:
    try:
        action()
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect(appointment)


@action_required("service.use_service")
@require_POST
def appointment_book(request: HttpRequest, pk: int) -> HttpResponse:
    appointment = _appointment(pk)
    form = BookForm(request.POST, slots=services.slots_with_load(appointment.batch))
    if not form.is_valid():
        messages.error(request, _("Choose a slot."))
        return redirect(appointment)

    def book() -> None:
        services.appointment_book(
            actor=request.user, appointment=appointment, slot=form.cleaned_data["slot"]
        )
        messages.success(request, _("Appointment booked; the owner is notified."))

    return _done(request, appointment, book)


@action_required("service.use_service")
@require_POST
def inspection_start(request: HttpRequest, pk: int) -> HttpResponse:
    appointment = _appointment(pk)
    return _done(
        request,
        appointment,
        lambda: services.inspection_start(actor=request.user, appointment=appointment),
    )


@action_required("service.use_service")
@require_POST
def inspection_save(request: HttpRequest, pk: int) -> HttpResponse:
    appointment, inspection = _inspection(pk)
    if appointment.status == HandoverAppointment.Status.HANDED_OVER:
        messages.error(
            request, _("The keys are handed over; the inspection can no longer change.")
        )
        return redirect(appointment)
    formset = InspectionFormSet(
        request.POST,
        request.FILES,
        queryset=inspection.items.select_related("repair_request").order_by("position"),
    )
    if not formset.is_valid():
        messages.error(request, _("Check the items marked in red."))
        return _render_appointment(request, appointment, formset)
    try:
        services.inspection_save(
            actor=request.user,
            appointment=appointment,
            items=formset.save(commit=False),
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Inspection saved."))
    return redirect(appointment)


@action_required("service.use_service")
@require_POST
def inspection_defects(request: HttpRequest, pk: int) -> HttpResponse:
    appointment, inspection = _inspection(pk)

    def turn() -> None:
        created = services.defects_to_requests(
            actor=request.user, inspection=inspection
        )
        messages.success(
            request,
            _("%(count)s repair requests created from the defects.")
            % {"count": len(created)},
        )

    return _done(request, appointment, turn)


@action_required("service.use_service")
@require_POST
def handover_complete(request: HttpRequest, pk: int) -> HttpResponse:
    appointment = _appointment(pk)

    def complete() -> None:
        if services.handover_complete(actor=request.user, appointment=appointment):
            messages.success(request, _("Handed over. Welcome the new owner!"))

    return _done(request, appointment, complete)


@action_required("service.manage_service")
@require_POST
def handover_close(request: HttpRequest, pk: int) -> HttpResponse:
    batch = _batch(pk)
    if services.batch_close(actor=request.user, batch=batch):
        messages.success(request, _("Batch closed; owners can no longer book online."))
    return redirect(batch)


@see_required("service.view_service_desk")
def inspection_photo(request: HttpRequest, pk: int) -> FileResponse:
    item = get_object_or_404(InspectionItem, pk=pk)
    return photo_response(item.photo)


@public("the owner's signed booking link")
@never_cache
def handover_booking(request: HttpRequest, token: str) -> HttpResponse:
    """The page an owner opens from their invitation to choose a handover slot."""
    try:
        appointment = services.appointment_from_token(token)
    except (signing.BadSignature, HandoverAppointment.DoesNotExist, ValueError):
        return invalid_link(request)
    if not services.booking_open(appointment):
        return public_message(
            request,
            "closed",
            _("Booking is closed"),
            _("Please call the service desk about your handover."),
            410,
        )
    slots = services.slots_open_to_owners(appointment.batch)
    form = OwnerBookForm(request.POST or None, slots=slots)
    if request.method == "POST" and form.is_valid():
        try:
            appointment = services.appointment_book(
                actor=None, appointment=appointment, slot=form.cleaned_data["slot"]
            )
        except ValidationError as exc:
            form.add_error("slot", exc.messages)
        else:
            return public_message(
                request,
                "booked",
                _("Your appointment is booked"),
                _("%(unit)s: %(slot)s. We will send you a confirmation.")
                % {"unit": appointment.unit, "slot": appointment.slot},
                200,
            )
    return render(
        request,
        "service/handover_booking.html",
        {"appointment": appointment, "form": form, "slots": slots},
    )
