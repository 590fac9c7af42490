"""One-time form tokens: a form sent twice (a double click, a re-sent POST) acts once.

A form opts in with ``{% submission_token %}`` (crm_site.templatetags.submit_once).
``SubmitOnceMiddleware`` runs a POST that carries a token in one transaction with
a ``FormSubmission`` row keyed by the token. When the view changed nothing (a
form error), the row is rolled back and the same token may be sent again. A
second POST with a used token runs nothing: it lands where the first one went.

The token lives in PostgreSQL, not in Redis, so it holds when Redis is down.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import timedelta

from django.contrib import messages
from django.db import IntegrityError, connection, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from crm_site.models import FormSubmission

FIELD = "submission_token"
TOKEN = re.compile(r"[A-Za-z0-9_-]{20,64}")
KEEP = timedelta(days=2)
WRITES = ("INSERT", "UPDATE", "DELETE")


def new_token() -> str:
    return secrets.token_urlsafe(24)


class _WriteWatch:
    """Notices whether any SQL statement run inside it changed a row."""

    def __init__(self) -> None:
        self.wrote = False

    def __call__(self, execute, sql, params, many, context):
        if sql.lstrip()[:6].upper() in WRITES:
            self.wrote = True
        return execute(sql, params, many, context)


def _token(request: HttpRequest) -> str | None:
    if request.method != "POST":
        return None
    value = request.POST.get(FIELD, "")
    return value if TOKEN.fullmatch(value) else None


def _replay(request: HttpRequest, token: str) -> HttpResponse:
    """The answer to a POST whose token was used: the first answer's place."""
    first = FormSubmission.objects.filter(token=token).first()
    if getattr(request, "htmx", False):
        # The first answer already replaced the form on the page.
        return HttpResponse(status=204)
    messages.info(request, _("This form was already sent; it was saved once."))
    target = first.result_url if first and first.user_id == request.user.pk else ""
    if not target:
        referer = request.META.get("HTTP_REFERER", "")
        if url_has_allowed_host_and_scheme(
            referer, allowed_hosts={request.get_host()}, require_https=False
        ):
            target = referer
    return HttpResponseRedirect(target or "/")


class SubmitOnceMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _token(request)
        if token is None:
            return self.get_response(request)
        user = request.user if request.user.is_authenticated else None
        watch = _WriteWatch()
        with transaction.atomic():
            try:
                with transaction.atomic():
                    # Waits here while another request holds the same token.
                    submission = FormSubmission.objects.create(
                        token=token, user=user, path=request.path[:200]
                    )
            except IntegrityError:
                return _replay(request, token)
            with connection.execute_wrapper(watch):
                response = self.get_response(request)
            if not watch.wrote or response.status_code >= 400:
                # Nothing was done (a form error): the same form may be sent again.
                submission.delete()
            elif response.status_code in (301, 302, 303):
                submission.result_url = response["Location"][:500]
                submission.save(update_fields=["result_url"])
            return response


def submissions_prune() -> int:
    """Forget tokens older than KEEP; nobody re-sends a form after two days."""
    deleted, _rows = FormSubmission.objects.filter(
        created_at__lt=timezone.now() - KEEP
    ).delete()
    return deleted
