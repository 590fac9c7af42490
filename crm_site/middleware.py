"""Input checks made once, at the boundary, for every view."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from crm_site.api.problems import InvalidCharacters, problem_response

# C0 control characters a person never types: PostgreSQL refuses NUL in text,
# and the spreadsheet writer refuses the others. Tab, newline and carriage
# return are ordinary text.
CONTROL_CHARACTERS = re.compile(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")
NUL = "\x00"


def _has_nul(data: QueryDict) -> bool:
    return any(
        NUL in key or any(NUL in value for value in values)
        for key, values in data.lists()
    )


def _without_controls(data: QueryDict) -> QueryDict | None:
    """A copy of ``data`` without control characters, or None when it had none."""
    if not any(
        CONTROL_CHARACTERS.search(key)
        or any(CONTROL_CHARACTERS.search(value) for value in values)
        for key, values in data.lists()
    ):
        return None
    cleaned = QueryDict(mutable=True, encoding=data.encoding)
    for key, values in data.lists():
        cleaned.setlist(
            CONTROL_CHARACTERS.sub("", key),
            [CONTROL_CHARACTERS.sub("", value) for value in values],
        )
    cleaned._mutable = False
    return cleaned


def _reads_post(request: HttpRequest) -> bool:
    # Multipart bodies are left to the view: reading them here would fix the
    # upload handlers before an upload view can choose its own; their text
    # fields go through forms, whose CharField refuses NUL.
    return request.method == "POST" and request.content_type in (
        "application/x-www-form-urlencoded",
        "",
    )


class InputGuardMiddleware:
    """Refuse NUL bytes with a 400 page; drop other control characters with a note.

    A NUL byte in a filter or a field used to reach PostgreSQL and end in a 500.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        reads_post = _reads_post(request)
        if (
            NUL in request.path_info
            or _has_nul(request.GET)
            or (reads_post and _has_nul(request.POST))
        ):
            return self.refuse(request)
        stripped = False
        if (cleaned := _without_controls(request.GET)) is not None:
            request.GET = cleaned
            stripped = True
        if reads_post and (cleaned := _without_controls(request.POST)) is not None:
            request.POST = cleaned
            stripped = True
        if stripped and hasattr(request, "_messages"):
            messages.warning(
                request,
                _("Invisible control characters were removed from what you sent."),
            )
        return self.get_response(request)

    @staticmethod
    def refuse(request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith("/api/"):
            # An integration reads problem details, as from every other API error.
            return problem_response(request, InvalidCharacters())
        return HttpResponse(render_to_string("400.html", request=request), status=400)
