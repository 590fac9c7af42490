"""Channel partners: marketing manages them and their commissions; brokers use the
partner portal, which shows their own partner's registrations and nothing else."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm_site.pagination import paginate
from crm_site.permissions import action_required, see_required
from crm_site.validation import parse_id
from customers.phones import format_phone
from marketing.models import ChannelPartner, Commission
from marketing.models.payouts import Payout
from marketing.partner_forms import BrokerForm, PartnerForm, PortalRegistrationForm
from marketing.partner_selectors import (
    commission_rows,
    partner_customer_mobile,
    partner_customer_name,
    partner_registration_rows,
    stage_label,
    visible_customer_ids,
)
from marketing.services.partners import (
    PartnerRegistrationRefused,
    broker_create,
    partner_of,
    partner_registration_create,
)
from marketing.services.payouts import payout_move


@see_required("marketing.view_channelpartner")
def partner_list(request: HttpRequest) -> HttpResponse:
    partners = ChannelPartner.objects.annotate(
        broker_count=Count("brokers", distinct=True),
        registration_count=Count("registrations", distinct=True),
    ).order_by("name")
    return render(
        request,
        "marketing/partner_list.html",
        {"page": paginate(partners, page=request.GET.get("page"))},
    )


def _partner_form(
    request: HttpRequest, instance: ChannelPartner | None
) -> HttpResponse:
    form = PartnerForm(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        partner = form.save()
        messages.success(request, _("Channel partner saved."))
        return redirect(partner)
    return render(
        request,
        "marketing/partner_form.html",
        {"form": form, "partner": instance},
        status=400 if form.errors else 200,
    )


@action_required("marketing.add_channelpartner")
def partner_create(request: HttpRequest) -> HttpResponse:
    return _partner_form(request, None)


@action_required("marketing.change_channelpartner")
def partner_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _partner_form(request, get_object_or_404(ChannelPartner, pk=pk))


@see_required("marketing.view_channelpartner")
def partner_detail(request: HttpRequest, pk: int) -> HttpResponse:
    partner = get_object_or_404(ChannelPartner, pk=pk)
    totals = partner.commissions.aggregate(
        due=Sum("amount", filter=Q(status=Payout.Status.DUE)),
        paid=Sum("amount", filter=Q(status=Payout.Status.PAID)),
    )
    return render(
        request,
        "marketing/partner_detail.html",
        {
            "partner": partner,
            "contact_phone": format_phone(partner.contact_phone),
            "brokers": partner.brokers.select_related("user").order_by(
                "user__username"
            ),
            "page": _registration_page(request, partner, for_partner=False),
            "totals": totals,
            "broker_form": BrokerForm()
            if request.user.has_perm("marketing.change_channelpartner")
            else None,
        },
    )


@action_required("marketing.change_channelpartner")
def broker_add(request: HttpRequest, pk: int) -> HttpResponse:
    partner = get_object_or_404(ChannelPartner, pk=pk)
    form = BrokerForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        broker_create(actor=request.user, partner=partner, **form.cleaned_data)
        messages.success(request, _("Broker login created."))
        return redirect(partner)
    return render(
        request,
        "marketing/broker_form.html",
        {"form": form, "partner": partner},
        status=400 if form.errors else 200,
    )


@see_required("marketing.view_commission")
def commission_list(request: HttpRequest) -> HttpResponse:
    partner_id = request.GET.get("partner", "")
    status = request.GET.get("status", "")
    partner_pk = parse_id(partner_id)
    partner = (
        ChannelPartner.objects.filter(pk=partner_pk).first()
        if partner_pk is not None
        else None
    )
    status = status if status in (Payout.Status.DUE, Payout.Status.PAID) else ""
    filters = request.GET.copy()
    filters.pop("page", None)
    page = paginate(
        commission_rows(partner=partner, status=status), page=request.GET.get("page")
    )
    visible = visible_customer_ids(
        user=request.user,
        customer_ids=[c.opportunity.customer_id for c in page.items],
    )
    for c in page.items:
        c.shown_name = partner_customer_name(
            customer=c.opportunity.customer,
            name_given=c.registration.name_given,
            visible=c.opportunity.customer_id in visible,
        )
    return render(
        request,
        "marketing/commission_list.html",
        {
            "page": page,
            "partners": ChannelPartner.objects.order_by("name"),
            "partner": partner,
            "status": status,
            "statuses": [
                (Payout.Status.DUE, Payout.Status.DUE.label),
                (Payout.Status.PAID, Payout.Status.PAID.label),
            ],
            "filter_query": filters.urlencode(),
        },
    )


@action_required("marketing.pay_reward")
@require_POST
def commission_pay(request: HttpRequest, pk: int) -> HttpResponse:
    commission = get_object_or_404(Commission, pk=pk)
    try:
        if payout_move(
            actor=request.user, payout=commission, status=Payout.Status.PAID
        ):
            messages.success(request, _("Commission marked paid."))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("marketing:commission-list")


def _registration_page(
    request: HttpRequest, partner: ChannelPartner, *, for_partner: bool
):
    page = paginate(
        partner_registration_rows(partner=partner), page=request.GET.get("page")
    )
    # A broker never sees the CRM's name; staff only for customers in their scope.
    visible = (
        set()
        if for_partner
        else visible_customer_ids(
            user=request.user, customer_ids=[row.customer_id for row in page.items]
        )
    )
    for row in page.items:
        # Nobody reads a full number off a partner's list, brokers included.
        row.masked_mobile = partner_customer_mobile(
            customer=row.customer, mobile_given=row.mobile_given
        )
        row.deal_stage_label = stage_label(row.deal_stage)
        row.shown_name = partner_customer_name(
            customer=row.customer,
            name_given=row.name_given,
            visible=row.customer_id in visible,
        )
    return page


# The partner portal ------------------------------------------------------------------


def _portal_partner(request: HttpRequest) -> ChannelPartner:
    """The broker's own partner; a user with the right but no active partner gets 403."""
    if not request.user.has_perm("marketing.partner_portal"):
        raise PermissionDenied
    partner = partner_of(request.user)
    if partner is None:
        raise PermissionDenied
    return partner


@see_required("marketing.partner_portal")
def portal(request: HttpRequest) -> HttpResponse:
    partner = _portal_partner(request)
    return render(
        request,
        "marketing/portal.html",
        {
            "partner": partner,
            "page": _registration_page(request, partner, for_partner=True),
        },
    )


@action_required("marketing.partner_portal")
def portal_register(request: HttpRequest) -> HttpResponse:
    partner = _portal_partner(request)
    form = PortalRegistrationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            link = partner_registration_create(
                broker=request.user,
                partner=partner,
                project=data["project"],
                name=data["name"],
                mobile=data["mobile"],
            )
        except PartnerRegistrationRefused as refused:
            form.add_error(None, refused.message)
        else:
            messages.success(
                request,
                _("%(name)s is registered at %(project)s, protected until %(until)s.")
                % {
                    # The name the broker typed: the record found by the number
                    # may be someone's customer under another name.
                    "name": data["name"],
                    "project": link.project.name,
                    "until": f"{timezone.localtime(link.registration.protected_until):%Y-%m-%d}",
                },
            )
            return redirect("marketing:portal")
    return render(
        request,
        "marketing/portal_register.html",
        {"form": form, "partner": partner},
        status=400 if form.errors else 200,
    )


@see_required("marketing.partner_portal")
def portal_commissions(request: HttpRequest) -> HttpResponse:
    partner = _portal_partner(request)
    page = paginate(commission_rows(partner=partner), page=request.GET.get("page"))
    for row in page.items:
        row.masked_mobile = partner_customer_mobile(
            customer=row.opportunity.customer,
            mobile_given=row.registration.mobile_given,
        )
    return render(
        request,
        "marketing/portal_commissions.html",
        {"partner": partner, "page": page},
    )
