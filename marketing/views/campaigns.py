"""Campaign pages: list, create/edit, detail with cost and return, the actions
(start, send, finish, cancel), the sending progress and the members."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm_site import confirm
from crm_site.audit import audit_entries_for
from crm_site.pagination import paginate
from crm_site.permissions import action_required, see_required
from marketing import confirmations, selectors, services
from marketing.forms import CampaignForm, CostLineForm
from marketing.models import Campaign, CampaignMember, Response

USE = "marketing.use_marketing"
RUN = "marketing.run_campaigns"
CAMPAIGN_FIELDS = Campaign.EDITABLE_FIELDS


def _campaign(pk: int) -> Campaign:
    return get_object_or_404(
        Campaign.objects.select_related(
            "project", "segment", "created_by", "min_level"
        ),
        pk=pk,
    )


@see_required(USE)
def campaign_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    qs = Campaign.objects.select_related("project").order_by("-starts_on", "-id")
    if status in Campaign.Status.values:
        # As the badge shows it: a running campaign past its end date is finished.
        qs = qs.in_status(status)
    page = paginate(qs, page=request.GET.get("page"))
    figures = selectors.campaign_returns(campaign_ids=[c.pk for c in page.items])
    return render(
        request,
        "marketing/campaign_list.html",
        {
            "page": page,
            "rows": [(c, figures[c.pk]) for c in page.items],
            "status": status,
            "statuses": Campaign.Status.choices,
            "filter_query": f"status={status}" if status else "",
            "can_run": request.user.has_perm(RUN),
        },
    )


@action_required(RUN)
def campaign_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    campaign = _campaign(pk) if pk else None
    # By the recorded status: a running campaign past its end date may still be
    # extended (services.campaign_update).
    if campaign is not None and campaign.status in (
        Campaign.Status.FINISHED,
        Campaign.Status.CANCELLED,
    ):
        messages.error(request, _("A finished or cancelled campaign cannot change."))
        return redirect(campaign)
    form = CampaignForm(request.POST or None, instance=campaign)
    if request.method == "POST" and form.is_valid():
        fields = {name: form.cleaned_data[name] for name in CAMPAIGN_FIELDS}
        if campaign is None:
            campaign = services.campaign_create(actor=request.user, **fields)
            messages.success(request, _("Campaign created."))
        else:
            if form.fields["segment"].disabled:
                fields.pop("segment")  # the members were copied at the start
                fields.pop("min_level")
            try:
                campaign = services.campaign_update(
                    actor=request.user, campaign=campaign, **fields
                )
            except ValidationError as exc:  # it ended while the form was open
                messages.error(request, " ".join(exc.messages))
            else:
                messages.success(request, _("Campaign saved."))
        return redirect(campaign)
    return render(
        request, "marketing/campaign_form.html", {"form": form, "campaign": campaign}
    )


def _progress_context(campaign: Campaign) -> dict:
    return {
        "campaign": campaign,
        "progress": selectors.invitation_progress(campaign=campaign),
    }


def _detail_context(
    request: HttpRequest, campaign: Campaign, cost_form: CostLineForm | None = None
) -> dict:
    context = _progress_context(campaign)
    context.update(
        {
            # The campaign's own figures (its cost and return are the same for
            # every reader), with how many of the customers counted the reader may
            # not see: the lists below name only the others, and say so.
            "figures": selectors.campaign_returns(
                campaign_ids=[campaign.pk], user=request.user
            )[campaign.pk],
            "cost_lines": campaign.cost_lines.order_by("spent_on", "id"),
            "cost_form": cost_form
            or CostLineForm(initial={"spent_on": timezone.localdate()}),
            "responses": selectors.of_visible_customers(
                Response.objects.filter(campaign=campaign), user=request.user
            )
            .select_related("customer", "lead_consultant")
            .order_by("-at", "-id")[:20],
            "deals": selectors.of_visible_customers(campaign.deals, user=request.user)
            .select_related("customer", "consultant")
            .order_by("-created_at")[:20],
            "history": audit_entries_for(campaign).select_related("actor")[:10],
            "can_run": request.user.has_perm(RUN),
            "can_attribute": request.user.has_perm("marketing.attribute_deal"),
            "statuses": Campaign.Status,
        }
    )
    context["confirm"] = _asks(request, campaign, context)
    return context


def _asks(request: HttpRequest, campaign: Campaign, context: dict) -> dict:
    """The confirmations the page's actions open: send and cancel."""
    if not context["can_run"]:
        return {}
    asks = {}
    if campaign.is_running and campaign.channels:
        asks["send"] = confirmations.send(
            campaign, selectors.invitations_preview(campaign=campaign)
        )
    if campaign.status in (Campaign.Status.PLANNED, Campaign.Status.RUNNING):
        asks["cancel"] = confirmations.cancel(
            campaign, progress=context["progress"], figures=context["figures"]
        )
    return asks


@see_required(USE)
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign(pk)
    return render(
        request, "marketing/campaign_detail.html", _detail_context(request, campaign)
    )


@see_required(USE)
def campaign_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress bar, polled by htmx while invitations are going out."""
    return render(
        request,
        "marketing/campaign_detail.html#progress",
        _progress_context(_campaign(pk)),
    )


@see_required(USE)
def campaign_members(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign(pk)
    page = paginate(
        selectors.of_visible_customers(
            CampaignMember.objects.filter(campaign=campaign), user=request.user
        )
        .select_related("customer")
        .order_by("pk"),
        page=request.GET.get("page"),
        per_page=50,
    )
    for member in page.items:
        member.mobile_display = member.customer.mobile_for(request.user)
    # The campaign's figure counts every member: say how many are not listed here.
    total, hidden = selectors.members_out_of_view(campaign=campaign, user=request.user)
    return render(
        request,
        "marketing/campaign_members.html",
        {"campaign": campaign, "page": page, "total": total, "hidden": hidden},
    )


@action_required(RUN)
@require_POST
def campaign_move(request: HttpRequest, pk: int, status: str) -> HttpResponse:
    campaign = _campaign(pk)
    if status not in Campaign.Status.values:
        return redirect(campaign)
    cancelling = status == Campaign.Status.CANCELLED
    if cancelling and campaign.can_move_to(status) and not confirm.confirmed(request):
        ask = confirmations.cancel(
            campaign,
            progress=selectors.invitation_progress(campaign=campaign),
            figures=selectors.campaign_returns(campaign_ids=[campaign.pk])[campaign.pk],
        )
        return confirm.ask(request, ask, back=campaign)
    try:
        services.campaign_move(actor=request.user, campaign=campaign, status=status)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            confirmations.cancelled(campaign)
            if cancelling
            else _("Campaign is now: %(status)s")
            % {"status": Campaign.Status(status).label},
        )
    return redirect(campaign)


@action_required(RUN)
@require_POST
def campaign_send(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign(pk)
    preview = selectors.invitations_preview(campaign=campaign)
    if campaign.is_running and not confirm.confirmed(request):
        return confirm.ask(
            request, confirmations.send(campaign, preview), back=campaign
        )
    try:
        added = services.invitations_queue(actor=request.user, campaign=campaign)
    except services.InvitationsRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, confirmations.sent(added=added, preview=preview))
    return redirect(campaign)


@action_required(RUN)
@require_POST
def cost_line_add(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign(pk)
    form = CostLineForm(request.POST)
    if form.is_valid():
        try:
            services.cost_line_add(
                actor=request.user, campaign=campaign, **form.cleaned_data
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Cost recorded."))
        return redirect(campaign)
    return render(
        request,
        "marketing/campaign_detail.html",
        _detail_context(request, campaign, cost_form=form),
        status=400,
    )
