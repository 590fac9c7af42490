"""The explorer page (多维分析), its export, saved views and reports by e-mail.

The page and the export are GET (a view is its URL); saved views and subscriptions
are each user's own rows (self-service, with the explorer permission), looked up
within the user's own (404 otherwise).
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm_site import explorer, reports
from crm_site.models import ExplorerView, ReportSubscription
from crm_site.permissions import see_required, self_service
from crm_site.replica import reads_from_replica
from crm_site.validation import parse_id

USE = "crm_site.use_explorer"
OWN = "a manager's own saved explorer views and report subscriptions"
WEEKDAYS = [
    (0, gettext_lazy("Monday")),
    (1, gettext_lazy("Tuesday")),
    (2, gettext_lazy("Wednesday")),
    (3, gettext_lazy("Thursday")),
    (4, gettext_lazy("Friday")),
    (5, gettext_lazy("Saturday")),
    (6, gettext_lazy("Sunday")),
]


class SaveViewForm(forms.Form):
    """The saved view's name; its parameters are what explorer.parse reads."""

    # A NUL byte comes only from a hand-made request: the length message will do.
    name = forms.CharField(
        max_length=100,
        error_messages={
            "required": gettext_lazy("Give the view a name."),
            "max_length": gettext_lazy("A name has at most 100 characters."),
            "null_characters_not_allowed": gettext_lazy(
                "A name has at most 100 characters."
            ),
        },
    )


def _small(value: str) -> int | None:
    """A weekday or a day of month from the form (0 allowed), or None."""
    value = (value or "").strip()
    return (
        int(value) if value.isascii() and value.isdigit() and len(value) <= 2 else None
    )


def _explorer_page(
    request: HttpRequest, data, *, save_errors: dict | None = None, status: int = 200
) -> HttpResponse:
    query = explorer.parse(request.user, data)
    result = explorer.run(request.user, query)
    filters = []
    if query.source is not None:
        for dim, values in explorer.filter_labels(request.user, query):
            rest = {k: v for k, v in query.filters.items() if k != dim.key}
            filters.append((dim, values, query.querystring(filters=rest)))
    keys = [d.key for d in query.dimensions] + ["", ""]
    column_filters: list[str] = []
    if result is not None and result.pivot.dimensions:
        # A row's or column's label narrows the view to it (a filter by clicking).
        dims = result.pivot.dimensions
        for line in result.lines:
            line.narrow = query.querystring(
                filters={**query.filters, dims[0].key: [line.value]}
            )
        if result.two:
            column_filters = [
                query.querystring(filters={**query.filters, dims[1].key: [value]})
                for value, _label in result.columns
            ]
    return render(
        request,
        "crm_site/explorer.html",
        {
            "query": query,
            "result": result,
            "filters": filters,
            "row_dim": keys[0],
            "column_headers": list(zip(result.columns, column_filters, strict=True))
            if result is not None and result.two
            else [],
            "col_dim": keys[1],
            "choices": explorer.filter_choices(request.user, query),
            "refreshed_at": explorer.refreshed_at(query.source),
            "querystring": query.querystring(),
            "title": explorer.title(query) if query.valid else "",
            "none_value": explorer.NONE,
            "save_errors": save_errors or {},
            "save_name": (save_errors or {}).get("_name", ""),
        },
        status=status,
    )


@see_required(USE)
@reads_from_replica
def explorer_page(request: HttpRequest) -> HttpResponse:
    """Choose a source, a measure, up to two dimensions and filters; see the pivot."""
    return _explorer_page(request, request.GET)


@see_required(USE)
@reads_from_replica
def explorer_export(request: HttpRequest) -> HttpResponse:
    """The page's pivot as an XLSX workbook (title, filters, refresh time, totals)."""
    query = explorer.parse(request.user, request.GET)
    if not query.valid:
        # The page says what is wrong, next to the field.
        return _explorer_page(request, request.GET, status=400)
    result = explorer.run(request.user, query)
    content = explorer.workbook(
        request.user, query, result, explorer.refreshed_at(query.source)
    )
    response = HttpResponse(content, content_type=explorer.XLSX)
    response["Content-Disposition"] = (
        f'attachment; filename="{explorer.filename(query)}"'
    )
    return response


# --- Saved views ------------------------------------------------------------------------


@self_service(OWN)
@permission_required(USE, raise_exception=True)
@require_POST
def explorer_view_save(request: HttpRequest) -> HttpResponse:
    """Save the page's current view under a name (the same name: replaced)."""
    data = explorer.querydict(
        {
            k: request.POST.getlist(k)
            for k in request.POST
            if k not in ("name", "csrfmiddlewaretoken")
        }
    )
    query = explorer.parse(request.user, data)
    form = SaveViewForm(request.POST)
    errors = {}
    if not form.is_valid():
        errors["name"] = form.errors["name"][0]
    if not query.valid:
        errors["name"] = errors.get("name") or _(
            "Correct the view's fields before saving it."
        )
    if errors:
        # Shown back in the save field as typed.
        errors["_name"] = request.POST.get("name", "").replace("\x00", "").strip()
        return _explorer_page(request, data, save_errors=errors, status=400)
    # What the page understands, as parsed (no other field of the POST is kept).
    params: dict[str, list[str]] = {}
    for key, value in query.params():
        params.setdefault(key, []).append(value)
    name = form.cleaned_data["name"]
    ExplorerView.objects.update_or_create(
        owner=request.user,
        name=name,
        defaults={"source": query.source.key, "params": params},
    )
    messages.success(request, _("View “%(name)s” saved.") % {"name": name})
    return redirect(f"{reverse('explorer')}?{query.querystring()}")


def _own(model, request: HttpRequest, **extra):
    pk = parse_id(request.POST.get("id"))
    row = model.objects.filter(pk=pk, **extra).first() if pk else None
    if row is None:
        raise Http404
    return row


@self_service(OWN)
@permission_required(USE, raise_exception=True)
@require_POST
def explorer_view_delete(request: HttpRequest) -> HttpResponse:
    view = _own(ExplorerView, request, owner=request.user)
    view.delete()
    messages.success(
        request,
        _("View “%(name)s” deleted, with its reports.") % {"name": view.name},
    )
    return redirect("report-list")


# --- Reports by e-mail ------------------------------------------------------------------


def _report_page(
    request: HttpRequest,
    *,
    errors: dict | None = None,
    values: dict | None = None,
    status: int = 200,
) -> HttpResponse:
    user = request.user
    views = list(ExplorerView.objects.filter(owner=user).order_by("name"))
    for view in views:
        view.url = (
            f"{reverse('explorer')}?{explorer.querydict(view.params).urlencode()}"
        )
    subscriptions = list(reports.subscriptions_of(user))
    names = dict(WEEKDAYS)
    for sub in subscriptions:
        if sub.frequency == ReportSubscription.Frequency.WEEKLY:
            sub.when = _("Weekly, %(weekday)s") % {"weekday": names.get(sub.weekday)}
        else:
            sub.when = _("Monthly, on day %(day)s") % {"day": sub.day}
    return render(
        request,
        "crm_site/report_list.html",
        {
            "views": views,
            "subscriptions": subscriptions,
            "errors": errors or {},
            "values": values or {"what": "view", "frequency": "weekly", "weekday": "0"},
            "weekdays": WEEKDAYS,
            "days": range(1, 29),
            "whats": ReportSubscription.What.choices,
            "frequencies": ReportSubscription.Frequency.choices,
            "has_email": bool(user.email),
        },
        status=status,
    )


@see_required(USE)
def report_list(request: HttpRequest) -> HttpResponse:
    """The user's saved views and report subscriptions, and the form to subscribe."""
    return _report_page(request)


@self_service(OWN)
@permission_required(USE, raise_exception=True)
@require_POST
def report_subscribe(request: HttpRequest) -> HttpResponse:
    post = request.POST
    values = {
        k: post.get(k, "") for k in ("what", "view", "frequency", "weekday", "day")
    }
    errors: dict[str, str] = {}
    what = values["what"]
    if what not in ReportSubscription.What.values:
        errors["what"] = _("Choose what the report shows.")
    frequency = values["frequency"]
    if frequency not in ReportSubscription.Frequency.values:
        errors["frequency"] = _("Choose weekly or monthly.")
    view = None
    if what == ReportSubscription.What.VIEW:
        view_id = parse_id(values["view"])
        view = (
            ExplorerView.objects.filter(pk=view_id, owner=request.user).first()
            if view_id
            else None
        )
    weekday = _small(values["weekday"])
    day = _small(values["day"])
    if not errors:
        try:
            sub = reports.report_subscribe(
                user=request.user,
                what=what,
                view=view,
                frequency=frequency,
                weekday=weekday,
                day=day,
                language=get_language() or "zh-hans",
            )
        except reports.SubscriptionRefused as refused:
            errors[refused.field] = refused.message
    if errors:
        return _report_page(request, errors=errors, values=values, status=400)
    messages.success(
        request,
        _("Subscribed: the report arrives by e-mail at %(email)s.")
        % {"email": sub.user.email},
    )
    return redirect("report-list")


@self_service(OWN)
@permission_required(USE, raise_exception=True)
@require_POST
def report_pause(request: HttpRequest) -> HttpResponse:
    """Pause a subscription, or resume a paused one."""
    with transaction.atomic():
        sub = _own(ReportSubscription, request, user=request.user)
        sub.active = not sub.active
        sub.save(update_fields=["active"])
    if sub.active:
        messages.success(request, _("The report is resumed."))
    else:
        messages.success(request, _("The report is paused."))
    return redirect("report-list")


@self_service(OWN)
@permission_required(USE, raise_exception=True)
@require_POST
def report_delete(request: HttpRequest) -> HttpResponse:
    _own(ReportSubscription, request, user=request.user).delete()
    messages.success(request, _("The subscription is deleted."))
    return redirect("report-list")
