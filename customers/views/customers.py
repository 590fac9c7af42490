"""Customer pages: the list, the 360 page with its timeline, create and edit."""

from __future__ import annotations

import hashlib
from dataclasses import replace

from crispy_forms.templatetags.crispy_forms_filters import as_crispy_form
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm_site import fragments, insight, panels
from crm_site.cache import CacheUnavailable
from crm_site.models import User
from crm_site.pagination import paginate
from crm_site.permissions import action_required, see_required, self_service
from crm_site.prepared import prepared_statements
from crm_site.validation import errors_text
from customers import selectors, services, value
from customers.forms import (
    ConsentForm,
    ContactPointForm,
    CustomerFilterForm,
    CustomerForm,
    HouseholdLinkForm,
    InteractionForm,
    SavedFilterForm,
    duplicate_message,
)
from customers.models import (
    ContactPoint,
    Customer,
    Interaction,
    MergeRecord,
    SavedFilter,
    Tag,
)
from customers.phones import format_phone, mask_phone, try_normalize_phone
from customers.querysets import digits_too_few

FILTER_KEYS = [
    "q",
    "stage",
    "source",
    "consultant",
    "tag",
    "contact_after",
    "contact_before",
    "follow_up",
    "sort",
    # The rows behind an explorer cell (crm_site.insight): kept across pages.
    "drill",
]


def _visible_customer(request: HttpRequest, pk: int) -> Customer:
    return get_object_or_404(
        Customer.objects.visible_to(request.user, one=True).select_related(
            "assigned_consultant", "created_by", "household"
        ),
        pk=pk,
    )


def _editable_customer(request: HttpRequest, pk: int) -> Customer:
    """404 outside the user's scope, 403 inside it without the right to change."""
    customer = _visible_customer(request, pk)
    if not Customer.objects.editable_by(request.user, one=True).filter(pk=pk).exists():
        raise PermissionDenied
    return customer


def filter_querystring(data: QueryDict) -> str:
    kept = QueryDict(mutable=True)
    for key in FILTER_KEYS:
        value = data.get(key, "")
        if value:
            kept[key] = value
    return kept.urlencode()


@see_required("customers.view_customer")
def customer_list(request: HttpRequest) -> HttpResponse:
    # A search alone, or nothing at all (the list as the user sees it): the first
    # page is read the same way whatever the text, through SQL compiled once per
    # process and scope (selectors.customer_list_page, ~0.4 ms of Python), prepared
    # where its plan does not depend on the values; no form is built (the filter
    # selects come from the cache, the text is cleaned by the form's own field). A
    # filter and each later page's OFFSET are built and planned each time: their
    # best plan depends on what is asked.
    # A search of Chinese text alone is read so on every page, rank by rank
    # (selectors.reads_in_ranks): its pages must come from the same reading.
    plain = not any(request.GET.get(key) for key in FILTER_KEYS if key != "q")
    text = CustomerFilterForm.search_alone(request.GET) if plain else ""
    first = request.GET.get("page", "") in ("", "1")
    if plain and (first or selectors.reads_in_ranks(text)):
        form = None
        qs, reader = selectors.customer_list_page(user=request.user, text=text)
        page = paginate(qs, page=1 if first else request.GET.get("page"), reader=reader)
        drill = None
    else:
        form = CustomerFilterForm(request.GET, user=request.user)
        # A search narrows to a few ids first (Customer.objects.search): the scope
        # is then checked on those rows, written as for one customer (quicker to
        # plan).
        qs = (
            Customer.objects.visible_to(request.user, one=form.searches())
            .identifiable()
            .for_rows()
        )
        qs = form.filter(qs)
        # The rows behind an explorer cell (customers.value): no query without
        # ?drill=.
        qs, drill = insight.drill_apply(request, qs)
        page = paginate(qs, page=request.GET.get("page"))
    rows = selectors.customer_rows(page.items, user=request.user)
    if request.htmx and request.htmx.target == "results":
        # Search as you type: only the results are re-rendered.
        return render(
            request,
            "customers/customer_list.html#results",
            {
                "page": page,
                "rows": rows,
                "hidden_match": _hidden_match(request, page),
                "digits_too_few": digits_too_few(request.GET.get("q", "")),
                "filter_query": filter_querystring(request.GET),
                "drill": drill,
            },
        )
    return render(
        request,
        "customers/customer_list.html",
        {
            "hidden_match": _hidden_match(request, page),
            "digits_too_few": digits_too_few(request.GET.get("q", "")),
            "form": form,
            "filter_fields": _filter_fields(request, form),
            "page": page,
            "rows": rows,
            "query": request.GET.get("q", ""),
            "filter_query": filter_querystring(request.GET),
            "saved_filters": _saved_filters(request.user),
            "can_add": request.user.has_perm("customers.add_customer"),
            "can_export": request.user.has_perm("customers.export_customer"),
            "can_see_value": value.may_see_value(request.user),
            "drill": drill,
        },
    )


def _filter_fields(request: HttpRequest, form: CustomerFilterForm | None) -> str:
    """The list's filter selects as HTML, cached per language, scope and chosen values:
    the consultant and tag lists cost two queries and most of the form's rendering,
    and are the same for every user of a team."""
    user = request.user
    if user.has_perm("customers.scope_all"):
        scope = "all"
    elif user.has_perm("customers.scope_team"):
        scope = f"team-{user.team_id}"
    else:
        scope = "own"
    chosen = QueryDict(mutable=True)
    for key in FILTER_KEYS[1:-1]:
        if chosen_value := request.GET.get(key, ""):
            chosen[key] = chosen_value

    def build() -> str:
        return render_to_string(
            "customers/customer_list.html#filter-fields",
            {"form": form or CustomerFilterForm(user=user)},
        )

    if form is not None and "q" in form.errors:
        # The text's error is shown with the selects, and the text is not part of
        # the key: cached, it would be shown to the next user of these filters.
        return build()
    digest = hashlib.blake2b(chosen.urlencode().encode(), digest_size=8).hexdigest()
    return fragments.cached(
        f"customer-filters:{scope}:{digest}",
        build,
        depends_on=[User, User.groups.through, Tag],
    )


def _saved_filters(user: User) -> list[dict]:
    """The user's saved filters, from the cache until one of them changes."""
    return fragments.cached(
        f"saved-filters:{user.pk}",
        lambda: list(
            SavedFilter.objects.filter(user=user).values("pk", "name", "query")
        ),
        depends_on=[SavedFilter],
        per_language=False,
    )


def _hidden_match(request: HttpRequest, page) -> dict | None:
    """A full number that belongs to a customer the user may not open: say so (for the
    duplicate check) without revealing who, beyond the masked number and the owner."""
    if page.items or page.number != 1:
        return None
    mobile = try_normalize_phone(request.GET.get("q", ""))
    customer = services.customer_find_by_phone(mobile) if mobile else None
    if customer is None:
        return None
    return {
        "mobile": mask_phone(customer.mobile),
        "owner": customer.assigned_consultant,
    }


@self_service("a user's own saved filters")
@permission_required("customers.view_customer", raise_exception=True)
@require_POST
def saved_filter_create(request: HttpRequest) -> HttpResponse:
    form = SavedFilterForm(request.POST)
    query = filter_querystring(request.POST)
    if len(query) > SavedFilter._meta.get_field("query").max_length:
        messages.error(
            request, _("This filter is too long to save; shorten the search text.")
        )
    elif form.is_valid() and query:
        SavedFilter.objects.update_or_create(
            user=request.user, name=form.cleaned_data["name"], defaults={"query": query}
        )
        messages.success(request, _("Filter saved."))
    else:
        messages.error(
            request, _("Give the filter a name and set at least one filter.")
        )
    return redirect(f"{reverse('customers:customer-list')}?{query}")


@self_service("a user's own saved filters")
@permission_required("customers.view_customer", raise_exception=True)
@require_POST
def saved_filter_delete(request: HttpRequest, filter_pk: int) -> HttpResponse:
    get_object_or_404(SavedFilter, pk=filter_pk, user=request.user).delete()
    messages.success(request, _("Filter deleted."))
    return redirect("customers:customer-list")


def _timeline_context(request: HttpRequest, customer: Customer) -> dict:
    kind = request.GET.get("kind", "")
    if kind not in Interaction.Kind.values:
        kind = ""
    timeline, reader = selectors.customer_timeline_page(customer=customer, kind=kind)
    page = paginate(
        timeline,
        page=request.GET.get("page"),
        per_page=20,
        # The timeline is a feed read with Newer / Older links: no total shown.
        count=False,
        reader=reader,
    )
    kinds = selectors.timeline_kind_labels()
    page = replace(
        page,
        items=selectors.timeline_rows(page.items, kinds=kinds, reader=request.user),
    )
    return {
        "customer": customer,
        "timeline": page,
        "kind": kind,
        # Printed by a row template (customers/_timeline_kinds.jinja): its eleven
        # buttons cost 66 Django template nodes, a quarter of the page's.
        "kinds": list(kinds.items()),
        "timeline_query": f"kind={kind}" if kind else "",
    }


def _blank_forms() -> dict[str, str]:
    """The page's blank forms as HTML, rendered once per language and release and
    read from the cache in one round trip. They depend on neither the customer nor
    the user (their choices are fixed lists)."""

    def build() -> dict[str, str]:
        return {
            "log": render_to_string(
                "customers/customer_detail.html#log-fields",
                {"log_form": InteractionForm()},
            ),
            "contact": as_crispy_form(ContactPointForm()),
            "consent": as_crispy_form(ConsentForm()),
            "household": as_crispy_form(HouseholdLinkForm(customer=None, user=None)),
        }

    return fragments.cached("customer-blank-forms", build, depends_on=[])


@see_required("customers.view_customer")
@prepared_statements
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    # One query for the customer, its tags and whether the user may change it; the
    # other apps' panels load right after the page (customer_panels), the rarely read
    # records (change history, merges, consent history) when scrolled to
    # (customer_history, customer_consents); blank forms come from the cache.
    customer = selectors.customer_on_page(user=request.user, pk=pk)
    if customer is None:
        raise Http404
    can_edit = customer.can_edit
    context = _timeline_context(request, customer)
    context.update(
        {
            "mobile_display": customer.mobile_for(request.user),
            "can_reveal": not customer.contact_visible_to(request.user)
            and request.user.has_perm("customers.reveal_contact"),
            "id_number_display": customer.id_number_for(request.user),
            "contact_points": selectors.contact_points_for(
                customer=customer, user=request.user
            ),
            "household": selectors.household_of(customer=customer, user=request.user),
            "tags": customer.tag_names,
            "audit_page": request.GET.get("audit_page", ""),
            "can_edit": can_edit,
            "has_panels": panels.any_for(request.user),
            # The tier for everyone who opens the customer, the figures for the
            # roles that see value (read with the customer: no query).
            "value_row": customer.value_row,
            "can_see_value": value.may_see_value(request.user),
        }
    )
    if can_edit:
        context["blank_forms"] = _blank_forms()
    return render(request, "customers/customer_detail.html", context)


@see_required("customers.view_customer")
@prepared_statements
def customer_panels(request: HttpRequest, pk: int) -> HttpResponse:
    """What other apps add to the customer page (crm_site.panels), loaded right after
    the page; each panel's own context function decides what this user sees."""
    customer = _visible_customer(request, pk)
    return render(
        request,
        "customers/customer_detail.html#panels",
        {
            "customer": customer,
            "panels": panels.for_customer(customer=customer, user=request.user),
        },
    )


@see_required("customers.view_customer")
def customer_history(request: HttpRequest, pk: int) -> HttpResponse:
    """The change history and the merges, loaded when the page scrolls to them."""
    customer = _visible_customer(request, pk)
    return render(
        request,
        "customers/customer_detail.html#history",
        {
            "customer": customer,
            "history": selectors.customer_history(
                customer=customer, user=request.user, page=request.GET.get("audit_page")
            ),
            "merges": MergeRecord.objects.filter(survivor=customer)
            .select_related("absorbed", "merged_by")
            .order_by("-merged_at")[:10],
        },
    )


@see_required("customers.view_customer")
def customer_consents(request: HttpRequest, pk: int) -> HttpResponse:
    """The latest consent records, loaded when the page scrolls to them."""
    customer = _visible_customer(request, pk)
    return render(
        request,
        "customers/customer_detail.html#consents",
        {"consents": selectors.consent_history(customer=customer)[:10]},
    )


@see_required("customers.view_customer")
@prepared_statements
def customer_timeline(request: HttpRequest, pk: int) -> HttpResponse:
    """The timeline alone, for htmx: filtering by kind and paging re-render just it."""
    customer = _visible_customer(request, pk)
    return render(
        request,
        "customers/customer_detail.html#timeline",
        _timeline_context(request, customer),
    )


@action_required("customers.change_customer")
@require_POST
def interaction_create(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _editable_customer(request, pk)
    form = InteractionForm(request.POST)
    # A row of a work list (My day) logs in place: htmx swaps the row for its result.
    as_row = bool(request.htmx) and request.POST.get("as") == "row"
    logged = None
    if form.is_valid():
        logged = services.interaction_log(
            customer=customer,
            kind=form.cleaned_data["kind"],
            channel=form.channel,
            summary=form.cleaned_data["summary"],
            actor=request.user,
            next_follow_up=form.cleaned_data["next_follow_up"],
        )
        if as_row:
            (row,) = selectors.quick_log_rows([(customer, "")], user=request.user)
            next_follow_up = form.cleaned_data["next_follow_up"]
            row = replace(
                row,
                logged=logged.get_kind_display(),
                next_follow_up=next_follow_up.strftime("%Y-%m-%d")
                if next_follow_up
                else "",
            )
            return render(request, "customers/_quick_log_done.html", {"row": row})
        if not request.htmx:
            messages.success(request, _("Logged on the timeline."))
            return redirect(customer)
        form = InteractionForm()
        # Read again: the log moved the last contact and the follow-up, and another
        # app may have acted on it (sales registers the customer, so owner and stage).
        customer = Customer.objects.select_related(
            "assigned_consultant", "value__tier"
        ).get(pk=pk)
    elif as_row:
        return render(
            request,
            "customers/_quick_log_rows.html",
            {
                "rows": selectors.quick_log_rows([(customer, "")], user=request.user),
                "log_form": form,
            },
        )
    elif not request.htmx:
        messages.error(
            request,
            _("The entry was not logged: %(errors)s") % {"errors": errors_text(form)},
        )
        return redirect(customer)
    context = _timeline_context(request, customer)
    context.update({"can_edit": True})
    if form.is_bound:
        context["log_form"] = form
    else:
        context["blank_forms"] = _blank_forms()
    if logged:
        # What else the log changed on the page, swapped in out of band.
        context.update(
            {
                "oob": True,
                "tags": [tag.name for tag in customer.tags.all()],
                "value_row": customer.value_row,
                "panels": panels.for_customer(
                    customer=customer, user=request.user, refreshed_only=True
                ),
            }
        )
    return render(request, "customers/customer_detail.html#logged", context)


@action_required("customers.change_customer")
def customer_edit(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _editable_customer(request, pk)
    form = CustomerForm(request.POST or None, instance=customer, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            customer = services.customer_update(
                actor=request.user, customer=customer, **form.changed_values()
            )
        except services.DuplicateCustomer as exc:
            form.add_error("mobile", duplicate_message(exc.existing, request.user))
        except services.CustomerMerged as exc:
            # What was typed stays in the form, to be copied to the survivor.
            form.add_error(None, _merged_message(request, exc))
        except services.CustomerAnonymised:
            # Erased (PIPL) after the page was opened: nothing is written back.
            form.add_error(None, _anonymised_message())
        else:
            messages.success(
                request, _("Customer %(name)s saved.") % {"name": customer.name}
            )
            return redirect(customer)
    return render(
        request, "customers/customer_form.html", {"form": form, "customer": customer}
    )


def _anonymised_message() -> str:
    """The refusal of a change to a record erased (PIPL) after the page was opened."""
    return _(
        "This customer's personal information was anonymised meanwhile: "
        "nothing was saved."
    )


def _on_the_record(
    request: HttpRequest, change, *, done: str, anonymised: str | None = None
) -> None:
    """Run ``change`` (a service call on the customer of the page) and say how it
    went: ``done``, or that the record was merged away (linking to the survivor) or
    erased since the page was opened."""
    try:
        change()
    except services.CustomerMerged as exc:
        messages.error(request, _merged_message(request, exc))
    except services.CustomerAnonymised:
        messages.error(request, anonymised or _anonymised_message())
    else:
        messages.success(request, done)


def _merged_message(request: HttpRequest, exc: services.CustomerMerged) -> str:
    """The refusal of a change to a record merged away meanwhile, linking to the
    record that lives on when the user may open it."""
    text = _(
        "This customer was merged into another one meanwhile: nothing was saved here."
    )
    survivor = exc.survivor_id
    if (
        survivor
        and Customer.objects.visible_to(request.user).filter(pk=survivor).exists()
    ):
        return format_html(
            '{} <a href="{}">{}</a>',
            text,
            reverse("customers:customer-detail", args=[survivor]),
            _("Open the customer it was merged into."),
        )
    return text


@action_required("customers.add_customer")
def customer_create(request: HttpRequest) -> HttpResponse:
    form = CustomerForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            customer = services.customer_create(
                actor=request.user, **form.changed_values()
            )
        except services.DuplicateCustomer as exc:
            form.add_error("mobile", duplicate_message(exc.existing, request.user))
        else:
            messages.success(
                request, _("Customer %(name)s created.") % {"name": customer.name}
            )
            return redirect(customer)
    return render(
        request, "customers/customer_form.html", {"form": form, "customer": None}
    )


@action_required("customers.change_customer")
@require_POST
def contact_point_create(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _editable_customer(request, pk)
    form = ContactPointForm(request.POST)
    if form.is_valid():
        _on_the_record(
            request,
            lambda: services.contact_point_add(
                actor=request.user, customer=customer, **form.cleaned_data
            ),
            done=_("Contact added."),
            anonymised=_(
                "This customer's personal information was anonymised meanwhile: "
                "the contact was not added."
            ),
        )
    else:
        messages.error(
            request,
            _("The contact was not added: %(errors)s") % {"errors": errors_text(form)},
        )
    return redirect(customer)


@action_required("customers.change_customer")
@require_POST
def contact_point_delete(request: HttpRequest, pk: int, point_pk: int) -> HttpResponse:
    customer = _editable_customer(request, pk)
    point = get_object_or_404(ContactPoint, pk=point_pk, customer=customer)
    _on_the_record(
        request,
        lambda: services.contact_point_remove(actor=request.user, point=point),
        done=_("Contact removed."),
        anonymised=_(
            "This customer's personal information was anonymised meanwhile: "
            "the contact was not removed."
        ),
    )
    return redirect(customer)


@action_required("customers.change_customer")
@require_POST
def consent_update(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _editable_customer(request, pk)
    form = ConsentForm(request.POST)
    if form.is_valid():
        _on_the_record(
            request,
            lambda: services.consent_set(
                actor=request.user, customer=customer, **form.cleaned_data
            ),
            done=_("Consent recorded."),
        )
    else:
        messages.error(
            request,
            _("The consent was not recorded: %(errors)s")
            % {"errors": errors_text(form)},
        )
    return redirect(customer)


@action_required("customers.change_customer")
@require_POST
def household_link(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _editable_customer(request, pk)
    form = HouseholdLinkForm(request.POST, customer=customer, user=request.user)
    if form.is_valid():
        try:
            services.household_link(
                actor=request.user,
                customer=customer,
                other=form.cleaned_data["phone"],
                role=form.cleaned_data["role"],
            )
        except services.HouseholdRefused as exc:
            messages.error(
                request,
                _("The co-buyer was not linked: %(errors)s") % {"errors": exc},
            )
        except services.CustomerMerged as exc:
            messages.error(request, _merged_message(request, exc))
        except services.CustomerAnonymised:
            messages.error(request, _anonymised_message())
        else:
            messages.success(request, _("Co-buyer linked."))
    else:
        messages.error(
            request,
            _("The co-buyer was not linked: %(errors)s")
            % {"errors": errors_text(form)},
        )
    return redirect(customer)


REVEALS_PER_HOUR = 20


def _reveal_count(user) -> int:
    """This reveal's number within the clock hour, counted in the cache.

    A counter that is new (the first reveal of the hour, or the cache was emptied) is
    seeded from the audit trail, so a Redis restart does not reset anyone's limit.
    Raises CacheUnavailable while Redis is down.
    """
    now = timezone.now()
    key = f"reveal:{user.pk}:{now:%Y%m%d%H}"
    if not cache.has_key(key):
        hour_start = now.replace(minute=0, second=0, microsecond=0)
        seen = services.contact_reveals_since(actor=user, since=hour_start)
        cache.add(key, seen, 3600)
    return cache.incr(key)


@action_required("customers.reveal_contact")
@require_POST
def contact_reveal(request: HttpRequest, pk: int) -> HttpResponse:
    """Show a masked number once: checked, rate-limited and written to the audit log."""
    customer = _visible_customer(request, pk)
    try:
        limit_reached = _reveal_count(request.user) > REVEALS_PER_HOUR
        per_hour = None
    except CacheUnavailable:
        # Redis is down: the audit trail counts instead (never unlimited, never 500).
        limit_reached, per_hour = False, REVEALS_PER_HOUR
    if not limit_reached:
        try:
            services.contact_reveal(
                actor=request.user, customer=customer, per_hour=per_hour
            )
        except services.RevealLimitReached:
            limit_reached = True
    if limit_reached:
        message = _("You have shown %(count)s numbers this hour, the most allowed.") % {
            "count": REVEALS_PER_HOUR
        }
        if request.htmx:
            return HttpResponse(
                f'<span class="text-danger small">{escape(message)}</span>', status=429
            )
        messages.error(request, message)
        return redirect(customer)
    number = format_phone(customer.mobile)
    if request.htmx:
        return HttpResponse(
            f'<span class="phone" data-testid="revealed">{escape(number)}</span>'
        )
    messages.info(
        request,
        _("Mobile of %(name)s: %(number)s") % {"name": customer.name, "number": number},
    )
    return redirect(customer)
