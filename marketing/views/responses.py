"""The door: a tablet page where a code typed in checks the guest in."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from crm_site.permissions import action_required
from marketing import services
from marketing.forms import CheckInForm
from marketing.models import Campaign, Response

RUN = "marketing.run_campaigns"


@action_required(RUN)
def campaign_checkin(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk)
    result: dict = {}
    status = 200
    form = CheckInForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            response, created = services.checkin_by_code(
                actor=request.user, campaign=campaign, code=form.cleaned_data["code"]
            )
        except services.ResponseRefused as exc:
            result = {"error": str(exc)}
            status = 400
        else:
            result = {"response": response, "created": created}
        form = CheckInForm()  # an empty box for the next guest
    context = {
        "campaign": campaign,
        "form": form,
        "checked_in": Response.objects.filter(
            campaign=campaign, kind=Response.Kind.CHECKIN
        ).count(),
        **result,
    }
    template = "marketing/campaign_checkin.html"
    if request.htmx:
        template += "#door"
    return render(request, template, context, status=status)
