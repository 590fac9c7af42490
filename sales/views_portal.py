"""Sales' pages in the owners' portal: my homes and my payments, with the signed
documents to print. Every read is within the owner's own deals,
``request.owner_deal_ids`` (404 outside): a co-buyer's other home is not theirs."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_safe

from crm_site import portal
from crm_site.permissions import owner_required
from sales import selectors
from sales.portal import owner_deals, owner_payments, stage_words


def _owners_deal(request: HttpRequest, pk: int):
    return get_object_or_404(owner_deals(request.owner_deal_ids), pk=pk)


def _homes(request: HttpRequest, deals: list, *, panels: bool) -> list[dict]:
    """Each home as the page shows it; with ``panels``, what the other apps add
    under it (handover, inspection): the home's own page, not the list."""
    units = [d.unit_id for d in deals if d.unit_id] if panels else []
    found = portal.home_panels(request.household_ids, units)
    return [
        {
            "deal": deal,
            "stage_words": stage_words(deal),
            "co_buyers": [row.customer for row in deal.co_buyers.all()],
            "panels": found.get(deal.unit_id, []),
        }
        for deal in deals
    ]


@owner_required
@require_safe
def homes(request: HttpRequest) -> HttpResponse:
    """Every unit the owner bought: project, building, unit, area, stage."""
    deals = list(owner_deals(request.owner_deal_ids))
    return render(
        request,
        "sales/portal_homes.html",
        {"homes": _homes(request, deals, panels=False)},
    )


@owner_required
@require_safe
def home_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One home: its facts, who bought it, its documents to print (as my payments
    offers them) and what the other apps add (handover, inspection)."""
    deal = _owners_deal(request, pk)
    return render(
        request,
        "sales/portal_home_detail.html",
        {
            "home": _homes(request, [deal], panels=True)[0],
            "documents": selectors.printable_documents(deal),
        },
    )


@owner_required
@require_safe
def payments(request: HttpRequest) -> HttpResponse:
    """The payment plan of each home, receipts, what is due and overdue."""
    return render(
        request,
        "sales/portal_payments.html",
        {"plans": owner_payments(request.owner_deal_ids)},
    )


@owner_required
@require_safe
def document(request: HttpRequest, pk: int, document: str) -> HttpResponse:
    """The subscription agreement (认购书) or the unit-selection confirmation, as the
    sales office prints them; numbers masked."""
    deal = _owners_deal(request, pk)
    if document not in selectors.printable_documents(deal):
        raise Http404
    return render(
        request,
        f"sales/print_{document}.html",
        selectors.print_context(deal=deal, viewer=AnonymousUser()),
    )
