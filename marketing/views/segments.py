"""Segments: the list, and the builder with its live count."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from crm_site.pagination import paginate
from crm_site.permissions import action_required, see_required
from marketing import selectors
from marketing.forms import SegmentForm
from marketing.models import Segment

USE = "marketing.use_marketing"
RUN = "marketing.run_campaigns"


@see_required(USE)
def segment_list(request: HttpRequest) -> HttpResponse:
    page = paginate(
        Segment.objects.select_related("created_by").order_by("name"),
        page=request.GET.get("page"),
    )
    return render(
        request,
        "marketing/segment_list.html",
        {"page": page, "can_run": request.user.has_perm(RUN)},
    )


def _live_count(request: HttpRequest, data) -> int:
    """The count for whatever the builder holds now; invalid filters are ignored."""
    form = SegmentForm(data)
    form.is_valid()
    return selectors.segment_count(user=request.user, criteria=form.criteria())


@action_required(RUN)
def segment_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=pk) if pk else None
    if request.method == "POST":
        form = SegmentForm(request.POST, instance=segment)
        if form.is_valid():
            segment = form.save(commit=False)
            if segment.created_by_id is None:
                segment.created_by = request.user
            segment.save()
            messages.success(request, _("Segment saved."))
            return redirect("marketing:segment-list")
        data = request.POST
    else:
        form = SegmentForm(instance=segment)
        data = {**segment.criteria, "name": segment.name} if segment else {}
    return render(
        request,
        "marketing/segment_form.html",
        {"form": form, "segment": segment, "count": _live_count(request, data)},
    )


@see_required(RUN)
@require_GET
def segment_count(request: HttpRequest) -> HttpResponse:
    """The htmx partial the builder re-fetches whenever a filter changes."""
    return render(
        request,
        "marketing/segment_form.html#count",
        {"count": _live_count(request, request.GET)},
    )


@action_required(RUN)
@require_POST
def segment_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete a segment no campaign targets; one that a campaign uses stays (the
    campaign's members were copied from it)."""
    segment = get_object_or_404(Segment, pk=pk)
    if segment.campaigns.exists():
        messages.error(
            request,
            _("This segment is the target of a campaign and cannot be deleted."),
        )
        return redirect("marketing:segment-edit", pk=pk)
    segment.delete()
    messages.success(request, _("Segment deleted."))
    return redirect("marketing:segment-list")
