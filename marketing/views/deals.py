"""Managers correct the campaign a deal is credited to."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from crm_site.permissions import action_required
from marketing import services
from marketing.forms import DealCampaignForm
from sales.models import Opportunity


@action_required("marketing.attribute_deal")
def deal_campaign(request: HttpRequest, pk: int) -> HttpResponse:
    deal = get_object_or_404(
        Opportunity.objects.visible_to(request.user).select_related(
            "customer", "project", "campaign"
        ),
        pk=pk,
    )
    form = DealCampaignForm(
        request.POST or None, deal=deal, initial={"campaign": deal.campaign_id}
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.deal_campaign_set(
                actor=request.user, deal=deal, campaign=form.cleaned_data["campaign"]
            )
        except ValidationError as exc:  # cancelled while the form was open
            form.add_error("campaign", exc)
        else:
            messages.success(request, _("The deal's campaign was saved."))
            return redirect(deal)
    return render(
        request, "marketing/deal_campaign_form.html", {"form": form, "deal": deal}
    )
