"""Selection-session screens: set-up, the on-site console, the big screen, the staff
event stream, the confirmation print, closing and the report.

Every session is looked up within ``sessions_visible_to(user)`` (404 outside it);
each view names the permission it needs (403 without it). The order and the draw
pages are the deposits screens' (``sales:session-order``).
"""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm_site import confirm, live
from crm_site.confirm import Confirmation
from crm_site.pagination import paginate
from crm_site.permissions import action_required, see_required
from crm_site.templatetags.money import yuan
from crm_site.validation import parse_id
from sales import selectors
from sales.forms_sessions import CallForm, CloseForm, SelectForm, SessionForm
from sales.models import Opportunity, Selection, SelectionSession, SessionEntry, Unit
from sales.services import sessions as service
from sales.services.deals import UnitUnavailable
from sales.services.opening import SelectionRefused, selection_make

MANAGE = "sales.manage_sales"
USE = "sales.use_sales"
DESK = "sales.view_sales_desk"
REPORTS = "sales.view_sales_management"


def _session(request: HttpRequest, pk: int) -> SelectionSession:
    return get_object_or_404(
        service.sessions_visible_to(request.user).select_related("project"), pk=pk
    )


def _form_data(form: SessionForm) -> dict:
    data = dict(form.cleaned_data)
    return {
        "name": data["name"],
        "starts_at": data["starts_at"],
        "mode": data["mode"],
        "order": data["order"],
        "units_per_buyer": data["units_per_buyer"],
        "units_per_household": data["units_per_household"],
        "minutes_per_buyer": data["minutes_per_buyer"],
        "buildings": list(data["buildings"]),
        "floors": data["floors"],
        "layouts": data["layouts"],
    }


def _refused_on_form(form, exc: service.SessionRefused) -> None:
    field = exc.field if exc.field in form.fields else None
    form.add_error(field, exc.messages[0])


@see_required(DESK)
def session_list(request: HttpRequest, pk: int) -> HttpResponse:
    project = get_object_or_404(service.projects_visible_to(request.user), pk=pk)
    sessions = (
        SelectionSession.objects.filter(project=project)
        .annotate(
            unit_count=Count("session_units", distinct=True),
            entry_count=Count("entries", distinct=True),
        )
        .order_by("-starts_at", "-pk")
    )
    return render(
        request,
        "sales/session_list.html",
        {"project": project, "page": paginate(sessions, page=request.GET.get("page"))},
    )


@action_required(MANAGE)
def session_create(request: HttpRequest, pk: int) -> HttpResponse:
    project = get_object_or_404(service.projects_visible_to(request.user), pk=pk)
    form = SessionForm(request.POST or None, project=project)
    if request.method == "POST" and form.is_valid():
        try:
            session = service.session_create(
                actor=request.user, project=project, **_form_data(form)
            )
        except service.SessionRefused as exc:
            _refused_on_form(form, exc)
        else:
            messages.success(
                request,
                _("Session %(name)s created with %(count)s units.")
                % {"name": session.name, "count": session.session_units.count()},
            )
            return redirect(session)
    return render(
        request, "sales/session_form.html", {"form": form, "project": project}
    )


@action_required(MANAGE)
def session_edit(request: HttpRequest, pk: int) -> HttpResponse:
    session = _session(request, pk)
    form = SessionForm(request.POST or None, instance=session, project=session.project)
    if request.method == "POST" and form.is_valid():
        try:
            service.session_update(
                actor=request.user,
                # The form wrote its fields on the instance: the service reads the row.
                session=SelectionSession(pk=session.pk),
                **_form_data(form),
            )
        except service.SessionRefused as exc:
            _refused_on_form(form, exc)
        else:
            messages.success(request, _("Session saved."))
            return redirect("sales:session-detail", pk=session.pk)
    return render(
        request,
        "sales/session_form.html",
        {"form": form, "project": session.project, "session": session},
    )


@see_required(DESK)
def session_detail(request: HttpRequest, pk: int) -> HttpResponse:
    session = _session(request, pk)
    entries = session.entries.select_related("deposit__customer").order_by(
        "position", "pk"
    )
    page = paginate(entries, page=request.GET.get("page"))
    for entry in page.items:
        customer = entry.deposit.customer
        entry.buyer_name = (
            customer.name
            if customer.contact_visible_to(request.user)
            else service.mask_name(customer.name)
        )
    return render(
        request,
        "sales/session_detail.html",
        {
            "session": session,
            "page": page,
            "unit_count": session.session_units.count(),
            "sold_count": session.selections.filter(cancelled_at=None).count(),
            "can_open": session.status == SelectionSession.Status.ORDERED
            or (
                session.status == SelectionSession.Status.DRAFT
                and session.order == SelectionSession.Order.FIRST_COME
            ),
        },
    )


@action_required(MANAGE)
@require_POST
def session_open(request: HttpRequest, pk: int) -> HttpResponse:
    session = _session(request, pk)
    try:
        service.session_open(actor=request.user, session=session)
    except service.SessionRefused as exc:
        messages.error(request, exc.messages[0])
        return redirect(session)
    messages.success(request, _("The session is open: buyers may choose."))
    return redirect("sales:session-console", pk=session.pk)


@action_required(MANAGE)
@require_POST
def session_call(request: HttpRequest, pk: int) -> HttpResponse:
    session = _session(request, pk)
    form = CallForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors.get("position", [])))
        return redirect("sales:session-console", pk=session.pk)
    try:
        position = form.cleaned_data.get("position")
        if position:
            session = service.session_call(
                actor=request.user, session=session, position=position
            )
        else:
            session = service.session_call_next(actor=request.user, session=session)
    except service.SessionRefused as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(
            request,
            _("Number %(position)s called to the desk.")
            % {"position": session.called_position},
        )
    return redirect("sales:session-console", pk=session.pk)


def _live_urls(session: SelectionSession) -> dict:
    """Where the page's script listens: the event-stream server, and this server
    should that one not answer."""
    here = reverse("sales:session-events", args=[session.pk])
    return {"live_url": live.events_url(here), "live_fallback_url": here}


def _console_context(request: HttpRequest, session: SelectionSession) -> dict:
    return {
        "session": session,
        "called": service.called_buyer(session=session, viewer=request.user),
        **_live_urls(session),
    }


@see_required(USE)
def session_console(request: HttpRequest, pk: int) -> HttpResponse:
    session = _session(request, pk)
    context = _console_context(request, session)
    context["grid"] = service.session_grid(session=session)
    context["recent"] = _recent_sales(session)
    context["printed"] = parse_id(request.GET.get("printed"))
    return render(request, "sales/session_console.html", context)


@see_required(USE)
def session_console_card(request: HttpRequest, pk: int) -> HttpResponse:
    """The called buyer's card alone: the console fetches it again on each call or
    sale it hears of."""
    session = _session(request, pk)
    return render(
        request, "sales/session_console.html#card", _console_context(request, session)
    )


def _selection_confirmation(entry: SessionEntry, unit: Unit, name: str) -> Confirmation:
    return Confirmation(
        title=_("Choose unit %(unit)s for number %(position)s?")
        % {"unit": unit.number, "position": entry.position},
        facts=[
            (_("Number"), str(entry.position)),
            (_("Customer"), name),
            (_("Unit"), f"{unit.building.name} {unit.number}"),
            (_("Layout"), unit.layout or "—"),
            (_("Gross area"), f"{unit.gross_area} m²"),
            (_("List price"), yuan(unit.list_price)),
            (_("Deposit applied"), yuan(entry.deposit.amount)),
        ],
        action=_("Confirm the selection"),
        consequence=_(
            "The subscription is signed with the deposit applied and every screen "
            "shows the unit sold."
        ),
    )


@action_required(USE)
@require_POST
def session_select(request: HttpRequest, pk: int) -> HttpResponse:
    session = _session(request, pk)
    back = reverse("sales:session-console", args=[session.pk])
    form = SelectForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a unit for the called buyer."))
        return redirect(back)
    entry = (
        session.entries.filter(pk=form.cleaned_data["entry"])
        .select_related("deposit__customer")
        .first()
    )
    unit = (
        Unit.objects.filter(
            pk=form.cleaned_data["unit"], pk__in=session.session_units.values("unit_id")
        )
        .select_related("building")
        .first()
    )
    if entry is None or unit is None:
        messages.error(request, _("This buyer or unit is not in the session."))
        return redirect(back)
    if (
        session.order != SelectionSession.Order.FIRST_COME
        and entry.position != session.called_position
    ):
        # The desk chooses for the buyer called to it: a buyer who missed their turn
        # is called again first (sessions.session_call), never picked by number.
        messages.error(
            request,
            _("Number %(position)s has not been called to the desk.")
            % {"position": entry.position},
        )
        return redirect(back)
    if not confirm.confirmed(request):
        customer = entry.deposit.customer
        name = (
            customer.name
            if customer.contact_visible_to(request.user)
            else service.mask_name(customer.name)
        )
        return confirm.ask(
            request, _selection_confirmation(entry, unit, name), back=back
        )
    try:
        selection = selection_make(
            session=session,
            entry=entry,
            unit=unit,
            channel=Selection.Channel.ON_SITE,
            actor=request.user,
        )
    except UnitUnavailable as exc:
        messages.error(
            request,
            _("Unit %(unit)s was taken a moment ago (%(status)s): choose another.")
            % {"unit": exc.unit.number, "status": exc.unit.get_status_display()},
        )
    except SelectionRefused as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(
            request,
            _("Unit %(unit)s chosen for number %(position)s.")
            % {"unit": unit.number, "position": entry.position},
        )
        return redirect(f"{back}?printed={selection.pk}")
    return redirect(back)


def _recent_sales(session: SelectionSession, limit: int = 8) -> list[Selection]:
    return list(
        Selection.objects.filter(session=session, cancelled_at=None)
        .select_related("unit", "entry")
        .order_by("-selected_at", "-pk")[:limit]
    )


@see_required(DESK)
def session_screen(request: HttpRequest, pk: int) -> HttpResponse:
    """The big screen: no navigation, large type, the live grid, the numbers called
    and the last sales. Everything after the first paint arrives pushed."""
    session = _session(request, pk)
    return render(
        request,
        "sales/session_screen.html",
        {
            "session": session,
            "grid": service.session_grid(session=session),
            "recent": _recent_sales(session),
            **_live_urls(session),
        },
    )


@live.live_view
@see_required(DESK)
def session_events(request: HttpRequest, pk: int) -> HttpResponse:
    session = _session(request, pk)
    return live.sse_response(request, session.topic)


@see_required(DESK)
def selection_print(request: HttpRequest, pk: int) -> HttpResponse:
    """The confirmation (认购确认书) of a selection, to print and sign at the desk.
    Only while the selection stands: one cancelled (退房) or moved to another unit
    (换房) names the buyer for a unit that is no longer theirs (404, as the deal's
    own printouts of a lost deal). Printed by the consultant who chose at the desk
    and whoever may see the deal (404 for anyone else)."""
    selection = get_object_or_404(
        Selection.objects.filter(
            session__in=service.sessions_visible_to(request.user),
            cancelled_at__isnull=True,
        ).select_related(
            "session",
            "entry__deposit",
            "opportunity__customer",
            "opportunity__project",
            "opportunity__consultant",
            "opportunity__unit__building",
        ),
        pk=pk,
    )
    deal = selection.opportunity
    if deal is None:
        # Claimed on the buyer's phone a moment ago; a worker is signing it.
        messages.info(
            request,
            _(
                "The subscription of this selection is being signed; print it in a moment."
            ),
        )
        return redirect(selection.session)
    if (
        selection.selected_by_id != request.user.pk
        and not Opportunity.objects.visible_to(request.user).filter(pk=deal.pk).exists()
    ):
        # The sheet names the buyer in full, with the unit and the price: for the
        # consultant who chose at the desk and whoever may see the deal, not for
        # every consultant of the project (the session page masks their names).
        raise Http404
    context = selectors.print_context(deal=deal, viewer=request.user)
    context["selection"] = selection
    return render(request, "sales/session_print.html", context)


@action_required(MANAGE)
def session_close(request: HttpRequest, pk: int) -> HttpResponse:
    session = _session(request, pk)
    form = CloseForm(request.POST or None, session=session)
    if session.status == SelectionSession.Status.CLOSED:
        messages.info(request, _("The session is already closed."))
        return redirect(session)
    if request.method == "POST" and form.is_valid():
        try:
            result = service.session_close(
                actor=request.user,
                session=session,
                deposits=form.cleaned_data["deposits"],
                next_session=form.cleaned_data.get("next_session"),
            )
        except service.SessionRefused as exc:
            _refused_on_form(form, exc)
        else:
            messages.success(
                request,
                _(
                    "Session closed: %(released)s units back on normal sale, "
                    "%(refunds)s refunds waiting for approval, %(moved)s deposits "
                    "moved."
                )
                % {
                    "released": result.released,
                    "refunds": result.refunds,
                    "moved": result.moved,
                },
            )
            return redirect(session)
    unused = service.unused_deposits(session).count()
    return render(
        request,
        "sales/session_close.html",
        {"session": session, "form": form, "unused": unused},
    )


@see_required(REPORTS)
def session_report(request: HttpRequest, pk: int) -> HttpResponse:
    session = _session(request, pk)
    report = service.session_report(session=session)
    return render(
        request,
        "sales/session_report.html",
        {
            "session": session,
            "report": report,
            "tables": [
                (_("By layout"), report.by_layout),
                (_("By building"), report.by_building),
                (_("By consultant"), report.by_consultant),
                (_("By channel"), report.by_channel),
            ],
        },
    )
