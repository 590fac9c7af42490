"""Marketing's pages in the owners' portal: recommend a friend (老带新) and the member
club. Every read is within ``request.household_ids`` (404 outside); events and the
club card are the signed-in owner's own."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from crm_site.pagination import paginate
from crm_site.permissions import owner_required
from customers.models import Channel
from marketing import portal as marketing_portal
from marketing.club_forms import RecommendFriendForm
from marketing.club_selectors import club_card
from marketing.models import PointEntry, Response
from marketing.services import ResponseRefused, response_record
from marketing.services.referrals import is_owner, referral_from_owner
from marketing.services.responses import refuse_unless_running

# Points history lines a page (older ones on the next pages).
LEDGER_ROWS = 20


@owner_required
def recommend(request: HttpRequest) -> HttpResponse:
    """The form (a friend's name and mobile, and that they agreed to be contacted)
    and the household's recommendations with their progress and reward."""
    may_refer = is_owner(request.owner)
    form = RecommendFriendForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if not may_refer:
            form.add_error(
                None,
                _("Recommending friends opens once your purchase contract is signed."),
            )
        elif form.is_valid():
            data = form.cleaned_data
            try:
                referral_from_owner(
                    owner=request.owner,
                    friend_name=data["friend_name"],
                    friend_mobile=data["friend_mobile"],
                    friend_agreed=data["friend_agreed"],
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(
                    request,
                    _(
                        "Thank you! We received your recommendation of %(name)s; our "
                        "sales office will contact your friend."
                    )
                    % {"name": data["friend_name"]},
                )
                return redirect("marketing_portal:recommend")
        status = 400
    return render(
        request,
        "marketing/portal_recommend.html",
        {
            "form": form,
            "may_refer": may_refer,
            "friends": marketing_portal.friend_rows(request.household_ids),
        },
        status=status,
    )


@owner_required
@require_safe
def club(request: HttpRequest) -> HttpResponse:
    """The owner's level, points and ledger, the levels' benefits, and the events
    that invite them."""
    card = club_card([request.owner.pk], entries=0)
    history = paginate(
        PointEntry.objects.filter(member_id=request.owner.pk).order_by(
            "-occurred_at", "-pk"
        ),
        page=request.GET.get("page"),
        per_page=LEDGER_ROWS,
        count=False,
    )
    return render(
        request,
        "marketing/portal_club.html",
        {
            "card": card,
            "history": history,
            "events": list(marketing_portal.owner_events(request.owner.pk)),
        },
    )


@owner_required
def event_signup(request: HttpRequest, pk: int) -> HttpResponse:
    """Sign up for an event that invites the owner (the same response as the
    invitation's sign-up link; on the timeline from the portal). GET shows the event
    with the button, for a link opened on its own."""
    member = get_object_or_404(
        marketing_portal.owner_event_memberships(request.owner.pk), pk=pk
    )
    try:
        # An event that ended (or never ran) says so, rather than "not found".
        refuse_unless_running(member.campaign, kind=Response.Kind.SIGNUP)
    except ResponseRefused as exc:
        messages.error(request, str(exc))
        return redirect("marketing_portal:club")
    if request.method != "POST":
        return render(request, "marketing/portal_event_signup.html", {"m": member})
    try:
        _response, created = response_record(
            actor=None, member=member, kind=Response.Kind.SIGNUP, channel=Channel.PORTAL
        )
    except ResponseRefused as exc:
        messages.error(request, str(exc))
    else:
        if created:
            messages.success(
                request,
                _(
                    "You are signed up for %(event)s. Show your code %(code)s at the door."
                )
                % {"event": member.campaign.name, "code": member.code_display},
            )
    return redirect("marketing_portal:club")
