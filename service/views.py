"""The service desk."""

from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from customers.models import Customer
from customers.selectors import customer_counts_by, customer_list


@permission_required("service.use_service", raise_exception=True)
def service_home(request: HttpRequest) -> HttpResponse:
    counts = customer_counts_by(user=request.user, field="stage")
    owners = list(
        customer_list(user=request.user, stage=Customer.Stage.OWNER).order_by(
            "-updated_at", "-id"
        )[:10]
    )
    for customer in owners:
        customer.mobile_display = customer.mobile_for(request.user)
    return render(
        request,
        "service/service_home.html",
        {
            "owner_count": counts.get(Customer.Stage.OWNER, 0),
            "buyer_count": counts.get(Customer.Stage.BUYER, 0),
            "owners": owners,
        },
    )
