"""Customer pages: list, 360 detail, create and edit."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from crm_site.audit import audit_entries_for
from crm_site.pagination import paginate
from customers import selectors, services
from customers.forms import CustomerForm, duplicate_message
from customers.models import Customer


@permission_required("customers.view_customer", raise_exception=True)
def customer_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    stage = request.GET.get("stage", "")
    source = request.GET.get("source", "")
    if stage not in Customer.Stage.values:
        stage = ""
    if source not in Customer.Source.values:
        source = ""
    qs = selectors.customer_list(
        user=request.user, query=query, stage=stage, source=source
    )
    page = paginate(qs, page=request.GET.get("page"))
    for customer in page.items:
        customer.mobile_display = customer.mobile_for(request.user)
    filters = request.GET.copy()
    filters.pop("page", None)
    return render(
        request,
        "customers/customer_list.html",
        {
            "page": page,
            "query": query,
            "stage": stage,
            "source": source,
            "stages": Customer.Stage.choices,
            "sources": Customer.Source.choices,
            "filter_query": filters.urlencode(),
            "can_add": request.user.has_perm("customers.add_customer"),
        },
    )


@permission_required("customers.view_customer", raise_exception=True)
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    customer = get_object_or_404(
        Customer.objects.visible_to(request.user).select_related(
            "assigned_consultant", "created_by"
        ),
        pk=pk,
    )
    history = paginate(audit_entries_for(customer), page=request.GET.get("page"))
    return render(
        request,
        "customers/customer_detail.html",
        {
            "customer": customer,
            "mobile_display": customer.mobile_for(request.user),
            "history": history,
            "can_edit": Customer.objects.editable_by(request.user)
            .filter(pk=pk)
            .exists(),
        },
    )


@permission_required("customers.add_customer", raise_exception=True)
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


@permission_required("customers.change_customer", raise_exception=True)
def customer_edit(request: HttpRequest, pk: int) -> HttpResponse:
    customer = get_object_or_404(Customer.objects.visible_to(request.user), pk=pk)
    if not Customer.objects.editable_by(request.user).filter(pk=pk).exists():
        raise PermissionDenied
    form = CustomerForm(request.POST or None, instance=customer, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            customer = services.customer_update(
                actor=request.user, customer=customer, **form.changed_values()
            )
        except services.DuplicateCustomer as exc:
            form.add_error("mobile", duplicate_message(exc.existing, request.user))
        else:
            messages.success(
                request, _("Customer %(name)s saved.") % {"name": customer.name}
            )
            return redirect(customer)
    return render(
        request, "customers/customer_form.html", {"form": form, "customer": customer}
    )
