"""The door: a tablet page where a code typed in checks the guest in."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from crm_site.pagination import paginate
from crm_site.permissions import action_required, see_required
from crm_site.validation import parse_date, parse_id
from marketing import selectors, services
from marketing.forms import CheckInForm
from marketing.models import Campaign, Response
from marketing.overview import responses_in
from marketing.services.responses import closed_reason
from sales.models import Project

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
        "checked_in": selectors.checked_in_count(campaign=campaign),
        # Once it has ended (its end date) the page says so instead of the form.
        "closed": closed_reason(campaign, kind=Response.Kind.CHECKIN),
        **result,
    }
    template = "marketing/campaign_checkin.html"
    if request.htmx:
        template += "#door"
    return render(request, template, context, status=status)


@see_required("marketing.use_marketing")
def response_list(request: HttpRequest) -> HttpResponse:
    """The sign-ups and check-ins of a period (and project): the list behind the
    overview's marketing figures, from the queryset they count."""
    today = timezone.localdate()
    start = parse_date(request.GET.get("start")) or today.replace(day=1)
    end = parse_date(request.GET.get("end")) or today
    if end < start:
        start, end = today.replace(day=1), today
    project_id = parse_id(request.GET.get("project"))
    kind = request.GET.get("kind", "")
    if kind not in Response.Kind.values:
        kind = ""
    responses = (
        responses_in(
            project_id=project_id,
            first=start,
            stop=end + timedelta(days=1),
            kind=kind,
        )
        .select_related("campaign", "customer", "lead_consultant")
        .order_by("-at", "-id")
    )
    # The figures count every response; the list names only customers the user
    # may see (members were copied with the scope of whoever started a campaign).
    responses = selectors.of_visible_customers(responses, user=request.user)
    query = {"start": start.isoformat(), "end": end.isoformat()}
    if project_id:
        query["project"] = project_id
    if kind:
        query["kind"] = kind
    return render(
        request,
        "marketing/response_list.html",
        {
            "page": paginate(responses, page=request.GET.get("page")),
            "start": start,
            "end": end,
            "kind_label": Response.Kind(kind).label if kind else "",
            "project": Project.objects.filter(pk=project_id).first()
            if project_id
            else None,
            "filter_query": urlencode(query),
        },
    )
