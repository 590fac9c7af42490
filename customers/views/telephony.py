"""The screen pop in the agent's browser: the event stream, the card, its buttons."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm_site import live
from crm_site.permissions import action_required, self_service
from customers import services, telephony
from customers.forms import CustomerForm, duplicate_message
from customers.models import Call, Customer, Interaction
from customers.phones import format_phone, mask_phone
from customers.services import telephony as call_services

TOUCH_POINTS = 5


class CallNoteForm(forms.Form):
    """The card's note (the input's maxlength; a CharField refuses NUL bytes)."""

    note = forms.CharField(required=False, max_length=2000)


def _own_calls(request: HttpRequest) -> QuerySet[Call]:
    """An agent sees the calls that rang at their own extension, no others."""
    return Call.objects.filter(agent=request.user)


@live.live_view
@self_service("the agent's own screen-pop channel")
def screen_pop_stream(request: HttpRequest) -> HttpResponse:
    """Server-sent events for the logged-in agent: each call that rings at their
    extension. Ends after a while; the browser reconnects with the last id it saw."""
    if request.method != "GET":
        return HttpResponse(status=405)
    if not telephony.extension_of(request.user):
        # 204 tells EventSource to stop reconnecting: no extension, no calls.
        return HttpResponse(status=204)
    return live.sse_response(request, f"screen-pop:{request.user.pk}")


def _card_context(request: HttpRequest, call: Call) -> dict:
    """Queries: the call, whether the agent may open the customer, the last touch
    points, then each section's own fixed few."""
    user = request.user
    customer = call.customer
    visible = (
        customer is not None
        and Customer.objects.visible_to(user).filter(pk=customer.pk).exists()
    )
    touch_points = (
        list(
            Interaction.objects.filter(customer=customer)
            .select_related("created_by")
            .order_by("-occurred_at", "-id")[:TOUCH_POINTS]
        )
        if visible
        else []
    )
    if customer is not None and not customer.contact_visible_to(user):
        # Masked as the customer's numbers are masked for this agent everywhere.
        caller_display = mask_phone(call.caller)
    elif call.caller.startswith("+"):
        caller_display = format_phone(call.caller)
    else:
        caller_display = call.caller
    shown_customer = customer if visible else None
    return {
        "call": call,
        "customer": shown_customer,
        "outside_scope": customer is not None and not visible,
        "owner": customer.assigned_consultant if customer is not None else None,
        "caller_display": caller_display,
        "touch_points": touch_points,
        "sections": telephony.card_sections(
            call=call, customer=shown_customer, user=user
        ),
        "can_register": call.customer_id is None
        and call.caller.startswith("+")
        and user.has_perm("customers.add_customer"),
        "can_log": user.has_perm("customers.change_customer"),
    }


@self_service("the agent's own calls")
def screen_pop_card(request: HttpRequest, pk: int) -> HttpResponse:
    """The card of one call, fetched by static/js/screen_pop.js when it rings."""
    if request.method != "GET":
        return HttpResponse(status=405)
    call = get_object_or_404(
        _own_calls(request).select_related("customer__assigned_consultant"), pk=pk
    )
    return render(
        request, "customers/screen_pop_card.html", _card_context(request, call)
    )


@action_required("customers.change_customer")
@require_POST
def screen_pop_log(request: HttpRequest, pk: int) -> HttpResponse:
    """One click on the card: the call goes on the caller's timeline (now if it has
    ended, with its duration when it ends otherwise), once, with the agent's note."""
    call = get_object_or_404(_own_calls(request), pk=pk)
    form = CallNoteForm(request.POST)
    if form.is_valid():
        call_services.call_log(
            call=call, actor=request.user, note=form.cleaned_data["note"]
        )
    call = get_object_or_404(
        _own_calls(request).select_related("customer__assigned_consultant"), pk=pk
    )
    return render(
        request,
        "customers/screen_pop_card.html",
        {**_card_context(request, call), "log_requested": form.is_valid()},
        # A note no browser sends (a NUL byte, past the field's maxlength): nothing
        # logged, the card as it was.
        status=200 if form.is_valid() else 400,
    )


@action_required("customers.add_customer")
def screen_pop_register(request: HttpRequest, pk: int) -> HttpResponse:
    """A new caller, registered from the card: the customer form with the number
    filled in; the call then belongs to the new customer and lands on their
    timeline."""
    call = get_object_or_404(_own_calls(request), pk=pk)
    if call.customer_id is not None:
        return redirect(call.customer)
    form = CustomerForm(
        request.POST or None,
        user=request.user,
        initial={
            "mobile": format_phone(call.caller),
            "source": Customer.Source.PHONE,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                customer = services.customer_create(
                    actor=request.user, **form.changed_values()
                )
                call_services.call_caller_register(
                    call=call, actor=request.user, customer=customer
                )
        except services.DuplicateCustomer as exc:
            form.add_error("mobile", duplicate_message(exc.existing, request.user))
        else:
            messages.success(
                request, _("Customer %(name)s created.") % {"name": customer.name}
            )
            if (
                Customer.objects.visible_to(request.user)
                .filter(pk=customer.pk)
                .exists()
            ):
                return redirect(customer)
            return redirect("home")
    return render(
        request, "customers/customer_form.html", {"form": form, "customer": None}
    )
