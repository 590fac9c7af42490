"""High-impact actions ask first: one mechanism for every one of them.

A view whose POST signs, sells, sends or closes something calls ``ask`` unless the
POST carries ``confirmed=1``. The same facts (a ``Confirmation``) are rendered twice:

- on the page with the action's button, in a native ``<dialog>``
  (``templates/components/_confirm.html``); ``static/js/confirm.js`` opens it when the
  form is submitted and sends the form with ``confirmed=1`` when the user confirms;
- by ``ask`` as a page of its own when the POST came without ``confirmed`` (no
  JavaScript, an old tab, a script): nothing is done, the page says what would happen
  and re-sends the same fields with ``confirmed=1``.

The server check is the guard; the dialog only spares the extra page. Each app builds
its ``Confirmation`` from a selector, so the facts shown are the ones the action uses
(the unit's price, the recipients the send will queue).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render, resolve_url

FIELD = "confirmed"
# Never copied into the confirmation page's form: it carries its own of each.
NOT_RESENT = {"csrfmiddlewaretoken", FIELD}


@dataclass(frozen=True)
class Confirmation:
    """What the user is asked before an action: a question, the facts (label, value),
    what happens then, and the label of the button that does it. ``key`` is the id of
    its dialog on the page that offers the action (``keyed``)."""

    title: str
    facts: list[tuple[str, str]]
    action: str
    consequence: str = ""
    danger: bool = False
    warnings: list[str] = field(default_factory=list)
    key: str = ""


def keyed(confirmation: Confirmation, *parts: object) -> Confirmation:
    """The confirmation with the id its dialog and its form share on a page."""
    return replace(confirmation, key="confirm-" + "-".join(str(part) for part in parts))


def confirmed(request: HttpRequest) -> bool:
    return request.POST.get(FIELD) == "1"


def ask(request: HttpRequest, confirmation: Confirmation, *, back) -> HttpResponse:
    """The confirmation page for a POST that came without ``confirmed=1``: it changes
    nothing and offers the same POST again, confirmed (or the way back)."""
    resent = [
        (name, value)
        for name in request.POST
        if name not in NOT_RESENT
        for value in request.POST.getlist(name)
    ]
    return render(
        request,
        "components/confirm_page.html",
        {
            "confirmation": confirmation,
            "action_url": request.get_full_path(),
            "resent": resent,
            "back_url": resolve_url(back),
        },
    )
