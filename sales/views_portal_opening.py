"""The buyer's phone on opening day (在线选房), in the owners' portal.

A buyer whose deposit of intent is entered in an online session signs in with the
portal's one-time SMS code (sales.portal.opening_eligible) and sees: their sessions,
then a session's page with their position, their slot (or the session's start, T0,
for first come, first served) and the live grid of the session's units; they choose
a unit, confirm, and get the confirmation. The choice itself is
``sales.services.opening.selection_make`` (channel online, no consultant).

Every page is keyed by the buyer's entry, looked up within ``request.household_ids``:
another buyer's entry is not found (404). The grid stays current through the
session's live topic (crm_site.live), which the page's script listens to.
"""

from __future__ import annotations

from itertools import groupby

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_safe

from crm_site import live
from crm_site.permissions import owner_required
from sales.models import Selection, SelectionSession, SessionEntry, SessionUnit, Unit
from sales.portal import ONLINE_MODES
from sales.services.deals import UnitUnavailable
from sales.services.opening import SelectionRefused, selection_make

SOLD_WORDS = "This unit was just sold. Please choose another one."


def _entries(request: HttpRequest):
    """The household's entries in sessions that offer online selection."""
    return (
        SessionEntry.objects.filter(
            deposit__customer_id__in=request.household_ids,
            session__mode__in=ONLINE_MODES,
        )
        .exclude(session__status=SelectionSession.Status.DRAFT)
        .select_related("session__project", "deposit")
    )


def _entry(request: HttpRequest, pk: int) -> SessionEntry:
    return get_object_or_404(_entries(request), pk=pk)


def _turn(entry: SessionEntry, now) -> dict:
    """When the buyer may choose: the slot, or T0 for first come, first served."""
    session = entry.session
    first_come = session.order == SelectionSession.Order.FIRST_COME
    starts = session.starts_at if first_come else entry.slot_starts_at
    return {
        "first_come": first_come,
        "starts_at": starts,
        "ends_at": None if first_come else entry.slot_ends_at,
        "started": starts is not None and starts <= now,
        "open": session.status == SelectionSession.Status.OPEN,
        "closed": session.status == SelectionSession.Status.CLOSED,
    }


def _grid(session: SelectionSession, *, building: str, layout: str) -> dict:
    """The session's units by building and floor, with the filter choices: one
    query whatever the number of units."""
    units = [
        row.unit
        for row in SessionUnit.objects.filter(session=session)
        .select_related("unit__building")
        .only(
            "unit__id",
            "unit__number",
            "unit__floor",
            "unit__position",
            "unit__layout",
            "unit__gross_area",
            "unit__list_price",
            "unit__status",
            "unit__building__id",
            "unit__building__name",
        )
        .order_by("unit__building__name", "-unit__floor", "unit__position")
    ]
    buildings = sorted({u.building.name for u in units})
    layouts = sorted({u.layout for u in units if u.layout})
    shown = [
        u
        for u in units
        if (not building or u.building.name == building)
        and (not layout or u.layout == layout)
    ]
    return {
        "buildings": buildings,
        "layouts": layouts,
        "building": building,
        "layout": layout,
        "available": sum(1 for u in units if u.status == Unit.Status.AVAILABLE),
        "total": len(units),
        "groups": [
            {
                "building": name,
                "floors": [
                    {"floor": floor, "units": list(floor_units)}
                    for floor, floor_units in groupby(
                        list(group), key=lambda u: u.floor
                    )
                ],
            }
            for name, group in groupby(shown, key=lambda u: u.building.name)
        ],
    }


@owner_required
@require_safe
def opening_sessions(request: HttpRequest) -> HttpResponse:
    """The buyer's sessions: each with their position and when they may choose."""
    now = timezone.now()
    entries = list(_entries(request).order_by("-session__starts_at", "pk"))
    return render(
        request,
        "portal/opening_sessions.html",
        {"rows": [{"entry": e, "turn": _turn(e, now)} for e in entries]},
    )


@owner_required
@require_safe
def opening_session(request: HttpRequest, pk: int) -> HttpResponse:
    """The session page: position, slot and countdown, the buyer's choices, and the
    live grid (filtered by building and layout)."""
    entry = _entry(request, pk)
    session = entry.session
    now = timezone.now()
    chosen = list(
        Selection.objects.filter(entry=entry, cancelled_at=None)
        .select_related("unit__building")
        .order_by("selected_at")
    )
    taken = request.GET.get("taken", "")
    return render(
        request,
        "portal/opening_session.html",
        {
            "entry": entry,
            "session": session,
            "turn": _turn(entry, now),
            "chosen": chosen,
            "may_choose": session.status == SelectionSession.Status.OPEN
            and len(chosen) < session.units_per_buyer,
            "taken": int(taken) if taken.isdigit() else None,
            **_grid(
                session,
                building=request.GET.get("building", "")[:50],
                layout=request.GET.get("layout", "")[:50],
            ),
        },
    )


def _session_unit(entry: SessionEntry, unit_pk: int) -> Unit:
    unit = (
        Unit.objects.filter(
            pk=unit_pk,
            pk__in=SessionUnit.objects.filter(session=entry.session_id).values(
                "unit_id"
            ),
        )
        .select_related("building__project")
        .first()
    )
    if unit is None:
        raise Http404
    return unit


def _back_to_grid(entry: SessionEntry, *, taken: int | None = None) -> HttpResponse:
    url = reverse("sales_portal:opening-session", args=[entry.pk])
    return redirect(f"{url}?taken={taken}" if taken else url)


@owner_required
@require_http_methods(["GET", "HEAD", "POST"])
def opening_choose(request: HttpRequest, pk: int, unit: int) -> HttpResponse:
    """GET: the unit and what choosing it means; POST: choose it.

    A unit someone was faster to: back to the grid, saying so. A rule that refuses
    (not the buyer's turn yet, a limit reached): back to the grid with its reason."""
    entry = _entry(request, pk)
    chosen_unit = _session_unit(entry, unit)
    if request.method == "POST":
        try:
            selection = selection_make(
                session=entry.session,
                entry=entry,
                unit=chosen_unit,
                channel=Selection.Channel.ONLINE,
                actor=None,
            )
        except UnitUnavailable:
            messages.error(request, _(SOLD_WORDS))
            return _back_to_grid(entry, taken=chosen_unit.pk)
        except SelectionRefused as exc:
            messages.error(request, exc.messages[0])
            return _back_to_grid(entry)
        return redirect(
            "sales_portal:opening-selection", pk=entry.pk, selection=selection.pk
        )
    if chosen_unit.status != Unit.Status.AVAILABLE:
        messages.error(request, _(SOLD_WORDS))
        return _back_to_grid(entry, taken=chosen_unit.pk)
    return render(
        request,
        "portal/opening_choose.html",
        {
            "entry": entry,
            "session": entry.session,
            "unit": chosen_unit,
            "turn": _turn(entry, timezone.now()),
        },
    )


@owner_required
@require_safe
def opening_selection(request: HttpRequest, pk: int, selection: int) -> HttpResponse:
    """The confirmation: the unit, its price, the deposit applied, what comes next."""
    entry = _entry(request, pk)
    chosen = get_object_or_404(
        Selection.objects.filter(entry=entry).select_related(
            "unit__building__project", "opportunity"
        ),
        pk=selection,
    )
    deposit = entry.deposit
    price = chosen.opportunity.agreed_price or chosen.unit.list_price
    return render(
        request,
        "portal/opening_done.html",
        {
            "entry": entry,
            "session": entry.session,
            "selection": chosen,
            "unit": chosen.unit,
            "price": price,
            "deposit": deposit,
            "balance": price - deposit.amount,
        },
    )


@owner_required
@require_safe
def opening_live(request: HttpRequest, pk: int) -> HttpResponse:
    """The session's live events (sold, released, closed) for the buyer's grid."""
    entry = _entry(request, pk)
    return live.sse_response(request, entry.session.topic)
