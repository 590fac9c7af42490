"""The review of messages whose sending was interrupted and cannot be checked."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm_site import outbox
from crm_site.permissions import action_required, see_required

REVIEW = "crm_site.review_outbox"


@see_required(REVIEW)
def parked_list(request: HttpRequest) -> HttpResponse:
    """Parked messages of every kind, oldest first, with what to do about each."""
    return render(
        request,
        "crm_site/outbox_parked.html",
        {"groups": outbox.parked_groups(request.user)},
    )


def _kind(request: HttpRequest, name: str) -> outbox.OutboxKind:
    try:
        kind = outbox.kind_named(name)
    except KeyError:
        raise Http404 from None
    if not outbox.may_review(request.user, kind):
        raise Http404
    return kind


@action_required(REVIEW)
@require_POST
def parked_send_again(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    if outbox.message_send_again(actor=request.user, kind=_kind(request, kind), pk=pk):
        messages.success(request, _("The message will be sent again."))
    else:
        messages.info(request, _("This message is no longer parked."))
    return redirect("outbox-parked")


@action_required(REVIEW)
@require_POST
def parked_mark_sent(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    if outbox.message_mark_sent(actor=request.user, kind=_kind(request, kind), pk=pk):
        messages.success(request, _("The message is recorded as sent."))
    else:
        messages.info(request, _("This message is no longer parked."))
    return redirect("outbox-parked")
