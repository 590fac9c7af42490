"""The sales desk."""

from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from customers.models import Customer
from customers.selectors import customer_list
from sales import selectors


@permission_required("sales.use_sales", raise_exception=True)
def sales_home(request: HttpRequest) -> HttpResponse:
    by_stage = selectors.my_customers_by_stage(user=request.user)
    recent = list(
        customer_list(user=request.user).filter(assigned_consultant=request.user)[:10]
    )
    for customer in recent:
        customer.mobile_display = customer.mobile_for(request.user)
    return render(
        request,
        "sales/sales_home.html",
        {
            "stage_counts": [
                (value, label, by_stage.get(value, 0))
                for value, label in Customer.Stage.choices
            ],
            "my_total": sum(by_stage.values()),
            "pool_size": selectors.public_pool_size(),
            "recent": recent,
            "team": selectors.team_workload(user=request.user)
            if request.user.has_perm("sales.manage_sales")
            else [],
        },
    )
