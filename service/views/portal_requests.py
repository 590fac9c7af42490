"""Repairs and complaints in the owners' portal: the household's requests, a new one
with photos, its steps in plain words, confirming or rejecting the fix, rating it.

Every query is within the owner's requests (portal_requests.owners_requests: the
household's about the owner's own homes, and the owner's own; 404 outside them)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from crm_site.pagination import paginate
from crm_site.permissions import owner_required
from service import portal_requests, surveys
from service.forms import (
    PortalConfirmForm,
    PortalRatingForm,
    PortalRejectForm,
    PortalRequestForm,
)
from service.models import RequestPhoto, ServiceRequest
from service.photos import photo_response
from service.views.requests import errors_to_form


def _owners_requests(request: HttpRequest):
    return portal_requests.owners_requests(
        owner_id=request.owner.pk,
        household_ids=request.household_ids,
        deal_ids=request.owner_deal_ids,
    )


def _mine(request: HttpRequest, pk: int) -> ServiceRequest:
    return get_object_or_404(
        _owners_requests(request).select_related("customer", "unit__building__project"),
        pk=pk,
    )


@owner_required
def request_list(request: HttpRequest) -> HttpResponse:
    page = paginate(
        _owners_requests(request)
        .select_related("unit__building")
        .order_by("-received_at", "-pk"),
        page=request.GET.get("page"),
        per_page=20,
    )
    for item in page.items:
        item.owner_status = portal_requests.owner_status(item)
    return render(request, "service/portal/request_list.html", {"page": page})


@owner_required
def request_create(request: HttpRequest) -> HttpResponse:
    units = portal_requests.owner_units(request.owner_deal_ids)
    form = PortalRequestForm(
        request.POST or None,
        request.FILES or None,
        units=units,
        initial={"unit": units[0].pk} if len(units) == 1 else None,
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                item = portal_requests.portal_request_submit(
                    owner=request.owner,
                    household_ids=request.household_ids,
                    unit=data["unit"],
                    kind=data["kind"],
                    category=data["category"],
                    description=data["description"],
                    photos=data["photos"],
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(
                    request,
                    _(
                        "Sent. Your request number is %(number)s. The service desk "
                        "will accept it and tell you by message at each step."
                    )
                    % {"number": item.number},
                )
                return redirect("service_portal:request-detail", pk=item.pk)
        status = 400
    return render(
        request,
        "service/portal/request_form.html",
        {"form": form, "units": units},
        status=status,
    )


@owner_required
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail(request, _mine(request, pk))


def _detail(
    request: HttpRequest,
    item: ServiceRequest,
    *,
    confirm_form: PortalConfirmForm | None = None,
    reject_form: PortalRejectForm | None = None,
    rating_form: PortalRatingForm | None = None,
    status: int = 200,
) -> HttpResponse:
    """The request's page; a refused "solved", "not solved" or rating comes back
    bound (status 400): what the owner wrote kept, the reason next to its field or
    above the form."""
    invitation = portal_requests.rating_invitation(item)
    if rating_form is None and invitation is not None:
        rating_form = PortalRatingForm(questions=surveys.questions_of(invitation))
    return render(
        request,
        "service/portal/request_detail.html",
        {
            "item": item,
            "status_words": portal_requests.owner_status(item),
            "steps": portal_requests.owner_steps(item, reader_id=request.owner.pk),
            "photos": list(item.photos.order_by("uploaded_at", "pk")),
            "confirm_form": confirm_form or PortalConfirmForm(),
            "reject_form": reject_form or PortalRejectForm(),
            # A refused "not solved" is shown even when the desk moved the request
            # on meanwhile (a stale page): the owner's words are not lost.
            "callback_open": item.status == ServiceRequest.Status.RESOLVED
            or reject_form is not None,
            "rating_form": rating_form,
            "rating": None if rating_form else portal_requests.rating_of(item),
        },
        status=status,
    )


@owner_required
def request_photo(request: HttpRequest, pk: int, photo_pk: int) -> FileResponse:
    item = _mine(request, pk)
    return photo_response(
        get_object_or_404(RequestPhoto, pk=photo_pk, request=item).file
    )


def _done(request: HttpRequest, item: ServiceRequest, call, message: str):
    try:
        call()
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, message)
    return redirect("service_portal:request-detail", pk=item.pk)


@owner_required
def request_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    item = _mine(request, pk)
    if request.method != "POST":
        return _detail(request, item)  # the page that holds this form
    form = PortalConfirmForm(request.POST)
    if not form.is_valid():
        # A note the form refuses (NUL, too long without the page's limit) is said
        # next to it: the request is not closed without the owner's words.
        return _detail(request, item, confirm_form=form, status=400)
    return _done(
        request,
        item,
        lambda: portal_requests.portal_request_confirm(
            household_ids=request.household_ids,
            request=item,
            note=form.cleaned_data["note"],
        ),
        _("Thank you: the request is closed. Please rate our service below."),
    )


@owner_required
def request_reject(request: HttpRequest, pk: int) -> HttpResponse:
    item = _mine(request, pk)
    if request.method != "POST":
        return _detail(request, item)  # the page that holds this form
    form = PortalRejectForm(request.POST)
    if not form.is_valid():
        return _detail(request, item, reject_form=form, status=400)
    try:
        portal_requests.portal_request_reject(
            household_ids=request.household_ids,
            request=item,
            note=form.cleaned_data["note"],
        )
    except ValidationError as exc:
        errors_to_form(form, exc)
        return _detail(request, item, reject_form=form, status=400)
    messages.success(
        request,
        _(
            "We are sorry it is not solved. The request is open again and the service "
            "manager has been told."
        ),
    )
    return redirect("service_portal:request-detail", pk=item.pk)


@owner_required
def request_rate(request: HttpRequest, pk: int) -> HttpResponse:
    item = _mine(request, pk)
    if request.method != "POST":
        return _detail(request, item)  # the page that holds this form
    invitation = portal_requests.rating_invitation(item)
    if invitation is None:
        messages.error(request, _("This request cannot be rated now."))
        return redirect("service_portal:request-detail", pk=item.pk)
    form = PortalRatingForm(request.POST, questions=surveys.questions_of(invitation))
    if not form.is_valid():
        form.add_error(None, _("Give every question a score from 1 to 5."))
        return _detail(request, item, rating_form=form, status=400)
    try:
        portal_requests.portal_request_rate(
            household_ids=request.household_ids,
            request=item,
            scores=form.scores(),
            comment=form.cleaned_data["comment"],
        )
    except surveys.AlreadyAnswered:
        messages.error(request, _("You have rated this request already."))
        return redirect("service_portal:request-detail", pk=item.pk)
    except ValidationError as exc:
        errors_to_form(form, exc)
        return _detail(request, item, rating_form=form, status=400)
    messages.success(request, _("Thank you for your rating."))
    return redirect("service_portal:request-detail", pk=item.pk)
