"""Personal-information requests (PIPL) on one customer, for administrators: what the
CRM holds, the export, and the anonymisation."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from crm_site.permissions import action_required, see_required
from customers import services
from customers.forms_personal_data import AnonymiseForm, PersonalDataExportForm
from customers.models import Customer

PERMISSION = "customers.handle_personal_data"


def _customer(request: HttpRequest, pk: int) -> Customer:
    # Anonymised customers stay in scope: their request log and what remains are here.
    return get_object_or_404(
        Customer.objects.visible_to(request.user).select_related("anonymised_by"),
        pk=pk,
    )


def _page(
    request: HttpRequest,
    customer: Customer,
    *,
    export_form: PersonalDataExportForm | None = None,
    anonymise_form: AnonymiseForm | None = None,
    status: int = 200,
) -> HttpResponse:
    context = services.personal_data_overview(customer=customer)
    context.update(
        {
            "customer": customer,
            "total": sum(count for _s, count in context["counts"]),
            "export_form": export_form or PersonalDataExportForm(),
            "anonymise_form": anonymise_form or AnonymiseForm(customer=customer),
        }
    )
    return render(
        request, "customers/customer_personal_data.html", context, status=status
    )


@never_cache
@see_required(PERMISSION)
def personal_data(request: HttpRequest, pk: int) -> HttpResponse:
    return _page(request, _customer(request, pk))


@never_cache
@action_required(PERMISSION)
@require_POST
def personal_data_export(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _customer(request, pk)
    form = PersonalDataExportForm(request.POST)
    if not form.is_valid():
        return _page(request, customer, export_form=form, status=400)
    file_format = form.cleaned_data["file_format"]
    _request, data = services.personal_data_export(
        actor=request.user,
        customer=customer,
        reference=form.cleaned_data["reference"],
        reason=form.cleaned_data["reason"],
        file_format=file_format,
    )
    content, filename, content_type = services.personal_data_file(
        customer=customer, data=data, file_format=file_format
    )
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response


@never_cache
@action_required(PERMISSION)
@require_POST
def personal_data_anonymise(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _customer(request, pk)
    form = AnonymiseForm(request.POST, customer=customer)
    if not form.is_valid():
        return _page(request, customer, anonymise_form=form, status=400)
    try:
        services.customer_anonymise(
            actor=request.user,
            customer=customer,
            reference=form.cleaned_data["reference"],
            reason=form.cleaned_data["reason"],
        )
    except services.PersonalDataRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, _("The customer's personal information has been anonymised.")
        )
    return redirect("customers:personal-data", pk=customer.pk)
