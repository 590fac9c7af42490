"""Duplicate customers: the candidate list, the side-by-side merge, and its undo."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm_site.models import User
from crm_site.pagination import paginate
from crm_site.permissions import action_required, see_required
from customers import tasks
from customers.forms_merge import MergeForm
from customers.models import Customer, DuplicatePair, MergeRecord
from customers.services import merge as merge_services

PERMISSION = "customers.merge_customer"


@dataclass(frozen=True)
class PairRow:
    pair: DuplicatePair
    first_mobile: str
    second_mobile: str
    reasons: list[str]


@dataclass(frozen=True)
class FieldRow:
    name: str
    label: str
    survivor_value: str
    absorbed_value: str
    same: bool
    chosen: str


def _reason_labels(reasons: list[str]) -> list[str]:
    labels = dict(DuplicatePair.Reason.choices)
    return [str(labels.get(reason, reason)) for reason in reasons]


def _scoped_pair(
    request: HttpRequest, pair_pk: int, *, for_change: bool = False
) -> DuplicatePair:
    """The pair, when the user may see both of its customers; 404 otherwise.
    ``for_change``: deciding it changes both, so both must be the user's to change
    (403 otherwise)."""
    pair = get_object_or_404(
        DuplicatePair.objects.select_related(
            "first__assigned_consultant",
            "first__household",
            "second__assigned_consultant",
            "second__household",
        ),
        pk=pair_pk,
    )
    visible = Customer.objects.visible_to(request.user).filter(
        pk__in=[pair.first_id, pair.second_id]
    )
    if visible.count() != 2:
        raise Http404
    if for_change:
        editable = Customer.objects.editable_by(request.user).filter(
            pk__in=[pair.first_id, pair.second_id]
        )
        if editable.count() != 2:
            raise PermissionDenied
    return pair


@see_required(PERMISSION)
def duplicate_list(request: HttpRequest) -> HttpResponse:
    visible = Customer.objects.visible_to(request.user).values("pk")
    pairs = (
        DuplicatePair.objects.filter(
            status=DuplicatePair.Status.OPEN, first__in=visible, second__in=visible
        )
        .select_related("first__assigned_consultant", "second__assigned_consultant")
        .order_by("-found_at", "-id")
    )
    page = paginate(pairs, page=request.GET.get("page"))
    rows = [
        PairRow(
            pair=pair,
            first_mobile=pair.first.mobile_for(request.user),
            second_mobile=pair.second.mobile_for(request.user),
            reasons=_reason_labels(pair.reasons),
        )
        for pair in page.items
    ]
    return render(
        request, "customers/duplicate_list.html", {"page": page, "rows": rows}
    )


@action_required(PERMISSION)
@require_POST
def duplicate_scan(request: HttpRequest) -> HttpResponse:
    # A scan reads the whole customer table: it runs on a worker, never in a request.
    tasks.duplicate_scan.delay_on_commit()
    messages.success(
        request,
        _(
            "The duplicate scan has been queued; new candidates appear here "
            "when it finishes."
        ),
    )
    return redirect("customers:duplicate-list")


def _display(customer: Customer, name: str, user: User) -> str:
    if name == "mobile":
        return customer.mobile_for(user)
    if name == "id_number":
        return customer.id_number_for(user)
    field = Customer._meta.get_field(name)
    value = getattr(customer, name)
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(value, User):
        return value.display_name
    return str(value)


def _sides(pair: DuplicatePair, survivor_pk: str | None) -> tuple[Customer, Customer]:
    """(survivor, absorbed): as asked, else the older customer survives."""
    first, second = pair.first, pair.second
    if survivor_pk == str(second.pk):
        return second, first
    if survivor_pk == str(first.pk):
        return first, second
    if (second.created_at, second.pk) < (first.created_at, first.pk):
        return second, first
    return first, second


@action_required(PERMISSION)
def duplicate_merge(request: HttpRequest, pair_pk: int) -> HttpResponse:
    # The side-by-side page is a read; the merge itself changes both customers.
    pair = _scoped_pair(request, pair_pk, for_change=request.method == "POST")
    if pair.status != DuplicatePair.Status.OPEN:
        messages.info(request, _("This pair has already been decided."))
        return redirect("customers:duplicate-list")
    data = request.POST if request.method == "POST" else request.GET
    survivor, absorbed = _sides(pair, data.get("survivor"))
    form = MergeForm(
        request.POST if request.method == "POST" else None,
        survivor=survivor,
        absorbed=absorbed,
    )
    if request.method == "POST" and form.is_valid():
        try:
            merge_services.customer_merge(
                actor=request.user,
                survivor=survivor,
                absorbed=absorbed,
                choices=form.choices(),
            )
        except merge_services.MergeRefused as exc:
            messages.error(request, str(exc))
            return redirect("customers:duplicate-list")
        messages.success(
            request,
            _("%(absorbed)s has been merged into %(survivor)s.")
            % {"absorbed": absorbed.name, "survivor": survivor.name},
        )
        return redirect("customers:customer-detail", pk=survivor.pk)
    rows = []
    for name in merge_services.MERGE_FIELDS:
        mine = _display(survivor, name, request.user)
        theirs = _display(absorbed, name, request.user)
        rows.append(
            FieldRow(
                name=name,
                label=str(form.fields[name].label),
                survivor_value=mine,
                absorbed_value=theirs,
                same=getattr(survivor, Customer._meta.get_field(name).attname)
                == getattr(absorbed, Customer._meta.get_field(name).attname),
                chosen=str(form[name].value()),
            )
        )
    # Merging changes both records: the page says so before the user tries.
    may_merge = (
        Customer.objects.editable_by(request.user)
        .filter(pk__in=[survivor.pk, absorbed.pk])
        .count()
        == 2
    )
    return render(
        request,
        "customers/duplicate_merge.html",
        {
            "pair": pair,
            "survivor": survivor,
            "absorbed": absorbed,
            "form": form,
            "may_merge": may_merge,
            "rows": rows,
            "reasons": _reason_labels(pair.reasons),
            "survivor_tags": [tag.name for tag in survivor.tags.all()],
            "absorbed_tags": [tag.name for tag in absorbed.tags.all()],
        },
    )


@action_required(PERMISSION)
@require_POST
def duplicate_dismiss(request: HttpRequest, pair_pk: int) -> HttpResponse:
    pair = _scoped_pair(request, pair_pk, for_change=True)
    merge_services.duplicate_dismiss(pair=pair, actor=request.user)
    messages.success(request, _("Marked as not a duplicate."))
    return redirect("customers:duplicate-list")


@action_required(PERMISSION)
@require_POST
def merge_restore(request: HttpRequest, merge_pk: int) -> HttpResponse:
    record = get_object_or_404(
        MergeRecord.objects.select_related("survivor"), pk=merge_pk
    )
    visible = Customer.objects.visible_to(request.user)
    if not visible.filter(pk=record.survivor_id).exists():
        raise Http404
    # Undoing changes the survivor (the absorbed record, merged, is in no scope).
    editable = Customer.objects.editable_by(request.user)
    if not editable.filter(pk=record.survivor_id).exists():
        raise PermissionDenied
    try:
        absorbed = merge_services.customer_merge_restore(
            actor=request.user, record=record
        )
    except merge_services.MergeRefused as exc:
        messages.error(request, str(exc))
        return redirect("customers:customer-detail", pk=record.survivor_id)
    messages.success(
        request,
        _("Merge undone: %(name)s is a separate customer again.")
        % {"name": absorbed.name},
    )
    if visible.filter(pk=absorbed.pk).exists():
        return redirect("customers:customer-detail", pk=absorbed.pk)
    return redirect("customers:customer-detail", pk=record.survivor_id)
