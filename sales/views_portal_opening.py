"""The buyer's phone on opening day (在线选房), in the owners' portal.

A buyer whose deposit of intent is entered in an online session signs in with the
portal's one-time SMS code (sales.portal.opening_eligible) and sees: their sessions,
then a session's page with their position, their slot (or the session's start, T0,
for first come, first served) and the live grid of the session's units; they choose
a unit, confirm, and get the confirmation. The choice itself is
``sales.opening_lane.choose``: the unit claimed for the buyer at once
(``sales.services.opening.selection_claim``, channel online, no consultant), the
subscription signed by a worker a moment later.

Every page is keyed by the buyer's entry, looked up among the owner's own and their
household's (_own_entries): another buyer's entry is not found (404). The grid stays current through the
session's live topic (crm_site.live), which the page's script listens to.
"""

from __future__ import annotations

from itertools import groupby

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language, pgettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_safe

from crm_site import live
from crm_site.permissions import owner_required
from crm_site.validation import parse_id
from sales.models import Selection, SelectionSession, SessionEntry, SessionUnit, Unit
from sales.opening_lane import SOLD_WORDS, answer_data, choose, grid_url, seen_of
from sales.portal import ONLINE_MODES, choosable_by

OFF = ' aria-disabled="true" tabindex="-1"'


def _own_entries(request: HttpRequest):
    """The entries, in sessions that offer online selection, the owner may choose
    with (sales.portal.choosable_by)."""
    return SessionEntry.objects.filter(
        choosable_by(request.owner, request.household_ids),
        session__mode__in=ONLINE_MODES,
    ).exclude(session__status=SelectionSession.Status.DRAFT)


def _entries(request: HttpRequest):
    """… with what the pages show of them."""
    return _own_entries(request).select_related("session__project", "deposit")


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
    # Plain rows, not model instances: building 1,500 objects (entry, unit,
    # building) for a 500-unit session cost more than the rest of the page.
    units = list(
        Unit.objects.filter(selection_sessions=session)
        .order_by("building__name", "-floor", "position")
        .values_list(
            "pk",
            "number",
            "floor",
            "layout",
            "gross_area",
            "list_price",
            "status",
            "building__name",
            named=True,
        )
    )
    buildings = sorted({u.building__name for u in units})
    layouts = sorted({u.layout for u in units if u.layout})
    shown = [
        u
        for u in units
        if (not building or u.building__name == building)
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
            for name, group in groupby(shown, key=lambda u: u.building__name)
        ],
    }


def _grid_html(
    groups: list[dict], *, may_choose: bool, taken: int | None
) -> SafeString:
    """The grid's cells, written here rather than in a template loop: a session of
    500 units is 500 cells, which the template engine took ~300 ms to draw, and a
    buyer told "just sold" reloads this grid in the middle of the rush. The markup is
    the shared opening-day grid's ([data-unit-id][data-status], class unit-<status>);
    links are relative to the session page (units/<id>/)."""
    available, sold = escape(_("Available")), escape(_("Sold"))
    floor_suffix = escape(pgettext("floor number suffix", "F"))
    # price_short's format, with the language looked up once, not per cell.
    zh = (get_language() or "").startswith("zh")
    layouts: dict[str, str] = {}
    parts: list[str] = []
    for group in groups:
        parts.append(f'<h3 class="h6 mt-3 mb-1">{escape(group["building"])}</h3>')
        for row in group["floors"]:
            parts.append(
                f'<div class="opening-floor"><div class="opening-floor-no">'
                f'{row["floor"]}{floor_suffix}</div><div class="opening-units">'
            )
            for unit in row["units"]:
                on_sale = unit.status == Unit.Status.AVAILABLE
                off = "" if on_sale and may_choose else OFF
                facts = layouts.get(unit.layout) or layouts.setdefault(
                    unit.layout, escape(unit.layout)
                )
                price = (
                    f"{unit.list_price / 10000:,.0f}万"
                    if zh
                    else f"¥{unit.list_price / 1000000:,.2f}M"
                )
                if unit.gross_area:
                    facts += f" · {unit.gross_area:.0f}m²"
                parts.append(
                    f'<a class="opening-unit unit-{unit.status}'
                    f'{" opening-taken" if unit.pk == taken else ""}" '
                    f'data-unit-id="{unit.pk}" data-status="{unit.status}" '
                    f'href="units/{unit.pk}/"'
                    f"{off}>"
                    f'<span class="opening-unit-number">{escape(unit.number)}</span>'
                    f'<span class="opening-unit-facts">{facts}</span>'
                    f'<span class="opening-unit-price">{price}</span>'
                    f'<span class="opening-unit-state" data-unit-state>'
                    f"{available if on_sale else sold}</span></a>"
                )
            parts.append("</div></div>")
    # Safe: every value from the database above went through escape().
    return mark_safe("".join(parts))


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
    taken = parse_id(request.GET.get("taken"))
    may_choose = (
        session.status == SelectionSession.Status.OPEN
        and len(chosen) < session.units_per_buyer
    )
    grid = _grid(
        session,
        building=request.GET.get("building", "")[:50],
        layout=request.GET.get("layout", "")[:50],
    )
    return render(
        request,
        "portal/opening_session.html",
        {
            "entry": entry,
            "session": session,
            "turn": _turn(entry, now),
            "chosen": chosen,
            "may_choose": may_choose,
            "taken": taken,
            "grid_html": _grid_html(grid["groups"], may_choose=may_choose, taken=taken),
            **grid,
            **_live_urls(entry),
        },
    )


def _session_unit(
    entry: SessionEntry, unit_pk: int, *, only: tuple[str, ...] = ()
) -> Unit:
    units = Unit.objects.filter(
        pk=unit_pk,
        pk__in=SessionUnit.objects.filter(session=entry.session_id).values("unit_id"),
    ).order_by()
    units = units.only(*only) if only else units.select_related("building__project")
    unit = units.first()
    if unit is None:
        raise Http404
    return unit


def _live_urls(entry: SessionEntry) -> dict:
    """Where the page's script listens: the event-stream server, and this server
    should that one not answer."""
    here = reverse("sales_portal:opening-live", args=[entry.pk])
    return {"live_url": live.events_url(here), "live_fallback_url": here}


def _back_to_grid(entry: SessionEntry, *, taken: int | None = None) -> HttpResponse:
    return redirect(grid_url(entry.pk, taken=taken))


def _wants_json(request: HttpRequest) -> bool:
    """The phone's script asks for the answer as data (Accept: application/json);
    a plain form post gets the redirect."""
    return "application/json" in request.headers.get("Accept", "")


@owner_required
@require_http_methods(["GET", "HEAD", "POST"])
def opening_choose(request: HttpRequest, pk: int, unit: int) -> HttpResponse:
    """GET: the unit and what choosing it means; POST: choose it.

    A unit someone was faster to: back to the grid, saying so. A rule that refuses
    (not the buyer's turn yet, a limit reached): back to the grid with its reason.
    The phone's script (Accept: application/json) gets the same answers as data
    (sales.opening_lane.answer_data); in the rush the page server's lane answers
    it before this view (sales.opening_lane)."""
    if request.method == "POST":
        # Only what choosing needs (selection_claim reads the rest under its locks):
        # in the rush this view answers a few thousand times in a minute, most of
        # them "someone was faster".
        entry = get_object_or_404(
            _own_entries(request)
            .select_related("session")
            .only("session", "slot_starts_at"),
            pk=pk,
        )
        chosen_unit = _session_unit(entry, unit, only=("pk", "number", "status"))
        choice = choose(
            entry_id=entry.pk,
            session_id=entry.session_id,
            unit_id=chosen_unit.pk,
            unit_status=chosen_unit.status,
            seen=seen_of(entry, chosen_unit.pk),
            owner_id=request.owner.pk,
        )
        if _wants_json(request):
            return JsonResponse(
                answer_data(
                    entry_id=entry.pk,
                    session_id=entry.session_id,
                    unit_id=chosen_unit.pk,
                    choice=choice,
                )
            )
        if choice.result == "taken":
            messages.error(request, _(SOLD_WORDS))
            return _back_to_grid(entry, taken=chosen_unit.pk)
        if choice.result == "refused":
            assert choice.refusal is not None
            messages.error(request, choice.refusal.messages[0])
            return _back_to_grid(entry)
        assert choice.selection is not None
        return redirect(
            "sales_portal:opening-selection",
            pk=entry.pk,
            selection=choice.selection.pk,
        )
    entry = _entry(request, pk)
    chosen_unit = _session_unit(entry, unit)
    if chosen_unit.status != Unit.Status.AVAILABLE:
        # Sold before this page was asked for: back to the grid, saying so.
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
            **_live_urls(entry),
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
    # Claimed on the phone a moment ago: the unit is the buyer's, and a worker is
    # signing the subscription (sales.services.opening.selection_complete). The
    # page says so and looks again in a few seconds.
    signing = chosen.opportunity_id is None and chosen.cancelled_at is None
    price = (
        chosen.opportunity.agreed_price if chosen.opportunity_id else None
    ) or chosen.unit.list_price
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
            "signing": signing,
        },
    )


@live.live_view
@owner_required
@require_safe
def opening_live(request: HttpRequest, pk: int) -> HttpResponse:
    """The session's live events (sold, released, closed) for the buyer's grid."""
    entry = _entry(request, pk)
    return live.sse_response(request, entry.session.topic)
