"""The GM mailbox in the owners' portal: write to the general manager, see one's own
letters and their answers. A letter is its writer's: every query is within
``request.owner`` (404 for anyone else's, a household member's included)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from crm_site.pagination import paginate
from crm_site.permissions import owner_required
from service import mailbox
from service.forms import PortalLetterForm
from service.portal_requests import owner_units


@owner_required
def letter_list(request: HttpRequest) -> HttpResponse:
    page = paginate(
        mailbox.letters_of_owner(request.owner.pk).order_by("-written_at", "-pk"),
        page=request.GET.get("page"),
        per_page=20,
    )
    return render(request, "service/portal/letter_list.html", {"page": page})


@owner_required
def letter_create(request: HttpRequest) -> HttpResponse:
    units = owner_units(request.owner_deal_ids)
    form = PortalLetterForm(request.POST or None, units=units)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                letter = mailbox.letter_write(
                    owner=request.owner,
                    household_ids=request.household_ids,
                    subject=data["subject"],
                    body=data["body"],
                    unit=data["unit"],
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(
                    request,
                    _("Sent: your letter %(number)s is with the general manager.")
                    % {"number": letter.number},
                )
                return redirect("service_portal:letter-detail", pk=letter.pk)
        status = 400
    return render(
        request, "service/portal/letter_form.html", {"form": form}, status=status
    )


@owner_required
def letter_detail(request: HttpRequest, pk: int) -> HttpResponse:
    letter = get_object_or_404(
        mailbox.letters_of_owner(request.owner.pk).select_related(
            "customer", "unit__building"
        ),
        pk=pk,
    )
    return render(request, "service/portal/letter_detail.html", {"letter": letter})
