"""Export of the filtered customer list to XLSX or CSV."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import content_disposition_header

from crm_site import insight
from crm_site.permissions import see_required
from crm_site.replica import reads_from_replica
from customers.forms import CustomerFilterForm
from customers.models import Customer
from customers.services import imports as services
from customers.views.customers import FILTER_KEYS, filter_querystring


@see_required("customers.export_customer")
@reads_from_replica
def customer_export(request: HttpRequest) -> HttpResponse:
    """The list as the user filtered it; numbers masked as on the screen. Its reads
    may come from the replica (a report); the export's record is a write, and goes
    to the primary (crm_site.replica.ReplicaRouter)."""
    form = CustomerFilterForm(request.GET, user=request.user)
    # The customers the list shows: an anonymised record is listed nowhere.
    queryset = form.filter(Customer.objects.visible_to(request.user).identifiable())
    # The rows behind an explorer cell, as the list shows them (its link carries
    # ?drill=); recorded as what it selects, not as the signed token.
    queryset, drill = insight.drill_apply(
        request, queryset, list_url="customers:customer-list"
    )
    filters = {
        key: request.GET[key]
        for key in FILTER_KEYS
        if request.GET.get(key) and key != "drill"
    }
    if drill is not None:
        filters["drill"] = {"source": drill.source.key, "filters": drill.filters}
    try:
        content, filename, content_type = services.customer_export(
            user=request.user,
            queryset=queryset,
            file_format=request.GET.get("format", "xlsx"),
            filters=filters,
        )
    except services.ExportRefused as exc:
        messages.error(request, str(exc))
        query = filter_querystring(request.GET)
        return redirect(f"{reverse('customers:customer-list')}?{query}")
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response
