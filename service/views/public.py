"""What the pages owners open without logging in share: one message page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _


def public_message(
    request: HttpRequest, reason: str, title: str, text: str, status: int = 200
) -> HttpResponse:
    """A short page for an owner; `reason` names it for tests and styling."""
    return render(
        request,
        "service/public_message.html",
        {"reason": reason, "title": title, "text": text},
        status=status,
    )


def invalid_link(request: HttpRequest) -> HttpResponse:
    return public_message(
        request,
        "invalid",
        _("This link is not valid"),
        _("Please open the link exactly as it was sent to you."),
        404,
    )
