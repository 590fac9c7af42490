"""Sales' part of the screen pop card (customers.telephony): the caller's units, and
the deals the agent may see with their consultants."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from customers import telephony
from sales.models import Opportunity

UNITS_SHOWN = 6


def _context(*, call, customer, user) -> dict[str, Any] | None:
    """Two queries whatever the customer's history: their units, the open deals."""
    if customer is None:
        return None
    with_units = list(
        Opportunity.objects.filter(customer=customer, unit__isnull=False)
        .exclude(stage=Opportunity.Stage.LOST)
        .select_related("unit__building__project")
        .order_by("-created_at", "-id")[:UNITS_SHOWN]
    )
    deals = list(
        Opportunity.objects.visible_to(user)
        .open()
        .filter(customer=customer)
        .select_related("project", "consultant")
        .order_by("-created_at", "-id")[:3]
    )
    if not with_units and not deals:
        return None
    return {"units": with_units, "deals": deals, "title": _("Units and deals")}


def register() -> None:
    telephony.register_section(
        key="sales.units",
        template="sales/_screen_pop_units.html",
        context=_context,
        order=10,
    )
