"""Service's part of the screen pop card (customers.telephony): the caller's open
requests, and the link that opens a service request prefilled for them."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.urls import reverse

from customers import telephony
from customers.phones import format_phone
from service.models import ServiceRequest
from service.services import units_owned_by

REQUESTS_SHOWN = 5


def _context(*, call, customer, user) -> dict[str, Any] | None:
    """Two queries whatever the customer's history: open requests, owned units."""
    can_record = user.has_perm("service.record_service_request")
    if customer is None:
        if not can_record or not call.caller.startswith("+"):
            return None
        # A new caller: the intake registers them by the number they call from.
        query = {
            "mobile": format_phone(call.caller),
            "channel": ServiceRequest.Channel.PHONE,
        }
        return {
            "requests": [],
            "create_url": f"{reverse('service:request-create')}?{urlencode(query)}",
        }
    requests = list(
        ServiceRequest.objects.visible_to(user)
        .filter(customer=customer, status__in=ServiceRequest.OPEN)
        .select_related("unit__building")
        .order_by("-received_at", "-pk")[:REQUESTS_SHOWN]
    )
    create_url = ""
    if can_record:
        units = units_owned_by([customer.pk]).get(customer.pk, [])
        query = {
            # The intake finds the caller by number when the agent may see it, by
            # name otherwise: the page never holds a number the agent may not see.
            "mobile": format_phone(customer.mobile)
            if customer.mobile and customer.contact_visible_to(user)
            else customer.name,
            "customer": customer.pk,
            "channel": ServiceRequest.Channel.PHONE,
        }
        if len(units) == 1:
            query["unit"] = units[0].pk
        create_url = f"{reverse('service:request-create')}?{urlencode(query)}"
    if not requests and not create_url:
        return None
    return {"requests": requests, "create_url": create_url}


def register() -> None:
    telephony.register_section(
        key="service.requests",
        template="service/_screen_pop_requests.html",
        context=_context,
        order=20,
    )
