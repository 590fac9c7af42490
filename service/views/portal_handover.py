"""Service's pages in the owners' portal: booking or changing the handover slot, and
the open surveys. Everything within ``request.household_ids`` (404 outside); a
handover only for a home of the owner's own deals (``request.owner_deal_ids``)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from crm_site.permissions import owner_required
from customers.models import Channel
from sales.portal import owner_deals
from service import handover as services
from service import portal as service_portal
from service.forms_handover import OwnerBookForm
from service.models import HandoverAppointment, HandoverSlot
from service.surveys import survey_token


def _home_url(request: HttpRequest, unit_id: int) -> str:
    deal = owner_deals(request.owner_deal_ids).filter(unit_id=unit_id).first()
    if deal is None:
        return reverse("sales_portal:homes")
    return reverse("sales_portal:home-detail", args=[deal.pk])


@owner_required
def handover_booking(request: HttpRequest, pk: int) -> HttpResponse:
    """Choose or change the handover slot, among those with room left (the slot row
    is locked while booking: service.handover.appointment_book)."""
    appointment = get_object_or_404(
        service_portal.owner_appointments(
            request.household_ids, request.owner_deal_ids
        ),
        pk=pk,
    )
    back = _home_url(request, appointment.unit_id)
    if not services.booking_open(appointment):
        messages.info(request, _("Booking is closed. Please call the service desk."))
        return redirect(back)
    slots = _slots_with_current(appointment)
    form = OwnerBookForm(
        request.POST or None, slots=slots, initial={"slot": appointment.slot_id}
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                appointment = services.appointment_book(
                    actor=None,
                    appointment=appointment,
                    slot=form.cleaned_data["slot"],
                    channel=Channel.PORTAL,
                )
            except ValidationError as exc:
                form.add_error("slot", exc.messages)
            else:
                messages.success(
                    request,
                    _("Your handover is booked for %(slot)s. An SMS confirms it.")
                    % {"slot": appointment.slot},
                )
                return redirect(back)
        status = 400
    return render(
        request,
        "service/portal_handover_booking.html",
        {
            "appointment": appointment,
            "form": form,
            "slots": slots,
            "back": back,
            "current_slot_id": appointment.slot_id,
        },
        status=status,
    )


def _slots_with_current(appointment: HandoverAppointment) -> list[HandoverSlot]:
    """The slots open to owners and, among them in time order, the one the owner
    holds even when it is no longer open (their own booking filled it, or it is
    today): they see which one is theirs, and keeping it changes nothing
    (appointment_book)."""
    slots = services.slots_open_to_owners(appointment.batch)
    current = appointment.slot
    if current is None or any(slot.pk == current.pk for slot in slots):
        return slots
    return sorted([*slots, current], key=lambda slot: (slot.day, slot.starts_at))


@owner_required
@require_safe
def surveys(request: HttpRequest) -> HttpResponse:
    """The owner's open surveys (about the requests they follow and their own
    homes' handovers), each linking to its signed survey page."""
    invitations = service_portal.open_surveys(
        owner_id=request.owner.pk,
        household_ids=request.household_ids,
        deal_ids=request.owner_deal_ids,
    )
    return render(
        request,
        "service/portal_surveys.html",
        {
            "surveys": [
                {
                    "invitation": invitation,
                    "url": reverse(
                        "service:survey-answer", args=[survey_token(invitation)]
                    ),
                }
                for invitation in invitations
            ]
        },
    )
