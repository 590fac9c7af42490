"""Public pages an invitation links to, no login: sign up, unsubscribe. The link is
signed, so it works for that invitation only; the change happens on the POST."""

from __future__ import annotations

import io

import segno
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from crm_site.permissions import public
from marketing import services
from marketing.models import Response
from marketing.services.invitations import (
    SIGNUP_SALT,
    UNSUBSCRIBE_SALT,
    invitation_from_token,
)
from marketing.services.responses import closed_reason


def _invalid(request: HttpRequest) -> HttpResponse:
    return render(request, "marketing/public_invalid.html", status=404)


@public("the guest's signed unsubscribe link")
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    invitation = invitation_from_token(token, UNSUBSCRIBE_SALT)
    if invitation is None:
        return _invalid(request)
    done = False
    if request.method == "POST":
        services.unsubscribe(invitation=invitation)
        done = True
    return render(
        request,
        "marketing/public_unsubscribe.html",
        {"invitation": invitation, "done": done},
    )


def _signup_invitation(token: str):
    """The invitation a sign-up link is for; None for a bad link, and for the link
    of a record since merged away or anonymised (no sign-up, lead or deal comes of
    it: an anonymised person's old message may be anyone's now)."""
    invitation = invitation_from_token(token, SIGNUP_SALT)
    if invitation is None:
        return None
    if invitation.member.customer.is_gone:
        return None
    return invitation


@public("the guest's signed sign-up link")
def signup(request: HttpRequest, token: str) -> HttpResponse:
    invitation = _signup_invitation(token)
    if invitation is None:
        return _invalid(request)
    error = ""
    done = False
    # Said on the page itself once the campaign has ended (its end date) or is not
    # running: no button that only leads to a refusal.
    closed = closed_reason(invitation.campaign, kind=Response.Kind.SIGNUP)
    if request.method == "POST" and not closed:
        try:
            services.response_record(
                actor=None, member=invitation.member, kind=Response.Kind.SIGNUP
            )
            done = True
        except services.ResponseRefused as exc:
            error = str(exc)
    return render(
        request,
        "marketing/public_signup.html",
        {
            "invitation": invitation,
            "done": done,
            "error": error,
            "closed": closed,
            "code": invitation.member.code_display,
            # No door code to show once the doors have closed.
            "qr": "" if closed else _qr_svg(invitation.member.code),
        },
    )


@public("the QR code of the guest's signed sign-up link")
def qr_image(request: HttpRequest, token: str) -> HttpResponse:
    """The invitation's code as a PNG QR image, for the e-mail to show."""
    invitation = _signup_invitation(token)
    if invitation is None:
        return _invalid(request)
    image = io.BytesIO()
    segno.make(invitation.member.code, micro=False).save(
        image, kind="png", scale=8, border=2
    )
    # Like every signed-link response, not cached (crm_site.no_store): the image is the
    # guest's door code.
    return HttpResponse(image.getvalue(), content_type="image/png")


def _qr_svg(code: str) -> str:
    """The code as an inline SVG QR image, for the door's scanner or the guest's phone."""
    return segno.make(code, micro=False).svg_inline(scale=6)
