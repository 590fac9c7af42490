"""Walk-in and call registration (来访 / 来电登记): the phone number first, no twins."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from crm_site.permissions import action_required, see_required
from customers import events as customer_events
from customers import services
from customers.forms import RegistrationForm
from customers.models import Channel, Customer, Interaction
from customers.phones import TypedMobile, typed_mobile

CHANNEL_OF_KIND = {
    Interaction.Kind.VISIT: Channel.FACE_TO_FACE,
    Interaction.Kind.CALL_IN: Channel.PHONE,
}


def _hint_context(request: HttpRequest, typed: TypedMobile) -> dict:
    """The hint under the phone field: who the number belongs to, a new number, keep
    typing, or why it is not a mobile number."""
    customer = (
        services.customer_find_by_phone(typed.e164) if typed.state == "valid" else None
    )
    return {"typed": typed, **_match_context(request, customer)}


def _match_context(request: HttpRequest, customer: Customer | None) -> dict:
    if customer is None:
        return {"match": None}
    visible = Customer.objects.visible_to(request.user).filter(pk=customer.pk).exists()
    return {
        "match": customer,
        "match_visible": visible,
        "match_mobile": customer.mobile_for(request.user),
        "match_owner": customer.assigned_consultant,
    }


@see_required("customers.add_customer")
def phone_lookup(request: HttpRequest) -> HttpResponse:
    """The hint under the phone field, re-rendered by htmx as the number is typed."""
    typed = typed_mobile(request.GET.get("mobile", ""))
    return render(
        request,
        "customers/registration_form.html#lookup",
        _hint_context(request, typed),
    )


def _log_contact(request: HttpRequest, customer: Customer, data: dict) -> None:
    services.interaction_log(
        customer=customer,
        kind=data["kind"],
        channel=CHANNEL_OF_KIND[data["kind"]],
        summary=data["summary"],
        entry=None
        if data["summary"]
        else customer_events.CONTACT_WITHOUT_NOTES(kind=data["kind"]),
        actor=request.user,
        next_follow_up=data["next_follow_up"],
    )


@action_required("customers.add_customer")
def register(request: HttpRequest) -> HttpResponse:
    form = RegistrationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        existing = services.customer_find_by_phone(data["mobile"])
        if existing is None and not data["name"].strip():
            form.add_error("name", _("Enter the name of the new customer."))
        else:
            try:
                with transaction.atomic():
                    customer = existing or services.customer_create(
                        actor=request.user,
                        name=" ".join(data["name"].split()),
                        mobile=data["mobile"],
                        source=data["source"],
                    )
                    _log_contact(request, customer, data)
            except services.DuplicateCustomer as exc:
                # Another desk registered the number between the lookup and this
                # save (the unique index told): the contact goes on that record.
                customer = existing = exc.existing
                with transaction.atomic():
                    _log_contact(request, customer, data)
            visible = (
                Customer.objects.visible_to(request.user)
                .filter(pk=customer.pk)
                .exists()
            )
            if existing is None:
                messages.success(
                    request,
                    _("New customer %(name)s registered.") % {"name": customer.name},
                )
            elif visible:
                messages.success(
                    request,
                    _("Logged on the existing customer %(name)s.")
                    % {"name": customer.name},
                )
            else:
                # Not named: the user may not open this customer (the hint under
                # the number does not name them either).
                messages.success(
                    request,
                    _(
                        "Logged on an existing customer you cannot open; they stay "
                        "with their consultant."
                    ),
                )
            if visible:
                return redirect(customer)
            return redirect("customers:register")
    # A refused number has its message next to the field; the hint does not repeat it.
    typed = (
        typed_mobile(request.POST.get("mobile", ""))
        if request.method == "POST" and "mobile" not in form.errors
        else TypedMobile("empty")
    )
    context = {"form": form, **_hint_context(request, typed)}
    return render(request, "customers/registration_form.html", context)
