"""Errors as RFC 9457 problem details, in the caller's language (Accept-Language).

Every error of the API answers ``application/problem+json``::

    {"type": "https://anju-crm.example/problems/invalid", "title": "Invalid input.",
     "status": 422, "detail": "mobile: Enter a valid mobile number.",
     "instance": "/api/v1/customers/", "errors": [{"field": "mobile", "message": …}]}

DRF's exceptions, Django's ``Http404`` / ``PermissionDenied`` and a Django
``ValidationError`` raised by a service (its ``message_dict`` becomes the field
errors) all end here. Anything else is a server error: logged with its traceback,
answered with a 500 problem that says nothing of the internals.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback

logger = logging.getLogger("crm_site.api")

PROBLEM_TYPE_BASE = "https://anju-crm.example/problems/"
CONTENT_TYPE = "application/problem+json"


class Conflict(exceptions.APIException):
    """409: the call would create a twin or break a rule on the row's state. ``extra``
    goes into the problem (for a twin: the existing record's id)."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = _("This conflicts with the current state of the record.")

    def __init__(self, detail: Any = None, *, extra: dict | None = None) -> None:
        super().__init__(detail)
        self.extra = extra or {}


class IdempotencyKeyInvalid(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "idempotency_key_invalid"
    default_detail = _(
        "The Idempotency-Key header must be 1 to 255 visible ASCII characters."
    )


class IdempotencyKeyReused(exceptions.APIException):
    """422: the key was used before for a different request."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_key_reused"
    default_detail = _(
        "This Idempotency-Key was already used for a different request; "
        "send a new key for a new request."
    )


class IdempotentRequestInProgress(exceptions.APIException):
    """409: the first request with this key is still running."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "idempotency_in_progress"
    default_detail = _(
        "A request with this Idempotency-Key is still being processed; "
        "retry in a moment."
    )


class InvalidCharacters(exceptions.ParseError):
    """400: a NUL byte in the URL or query string (crm_site.middleware refuses it
    before any view)."""

    default_code = "invalid_characters"
    default_detail = _(
        "The request contains characters the CRM does not accept (such as a NUL byte)."
    )


class ServerError(exceptions.APIException):
    status_code = status.HTTP_500_INTERNAL_SERVER_ERROR
    default_code = "server_error"
    default_detail = _(
        "The server could not complete this call. It has been logged; "
        "retry later or contact the CRM's administrator."
    )


def _field_errors(detail: Any, prefix: str = "") -> list[dict[str, str]]:
    """DRF's nested error dict as a flat list of {field, message}."""
    errors: list[dict[str, str]] = []
    if isinstance(detail, dict):
        for name, value in detail.items():
            field = name if name not in ("non_field_errors", "__all__") else ""
            errors += _field_errors(value, f"{prefix}.{field}" if prefix else field)
    elif isinstance(detail, list):
        for item in detail:
            errors += _field_errors(item, prefix)
    else:
        errors.append({"field": prefix, "message": str(detail)})
    return errors


def from_django_validation_error(
    exc: DjangoValidationError,
) -> exceptions.ValidationError:
    """A service's ValidationError as DRF's, keyed by field ("" for the whole)."""
    if hasattr(exc, "error_dict"):
        detail = {
            ("non_field_errors" if name == "__all__" else name): messages
            for name, messages in exc.message_dict.items()
        }
    else:
        detail = {"non_field_errors": exc.messages}
    return exceptions.ValidationError(detail)


def refusal(exc: DjangoValidationError) -> exceptions.APIException:
    """A service's refusal of a change to an existing record: errors keyed by field
    are bad input (422); a refusal of the whole is the record's state saying no
    (409)."""
    if hasattr(exc, "error_dict"):
        return from_django_validation_error(exc)
    return Conflict(" ".join(exc.messages))


def _title(exc: exceptions.APIException) -> str:
    return str(getattr(exc, "default_detail", "")) or str(exc.default_code)


def problem_response(
    request: HttpRequest, exc: exceptions.APIException
) -> HttpResponse:
    """A problem answered before any API view runs (by a middleware)."""
    body = {
        "type": PROBLEM_TYPE_BASE + str(exc.default_code).replace("_", "-"),
        "title": _title(exc),
        "status": exc.status_code,
        "detail": str(exc.detail),
        "instance": request.get_full_path(),
    }
    return HttpResponse(
        json.dumps(body, ensure_ascii=False),
        status=exc.status_code,
        content_type=CONTENT_TYPE,
    )


def problem_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = from_django_validation_error(exc)
    request = context.get("request")
    response = exception_handler(exc, context)
    if response is None:
        # A fault: the traceback goes to the log, the caller learns nothing of it.
        logger.error(
            "API server error: %s %s",
            getattr(request, "method", "?"),
            request.get_full_path() if request is not None else "?",
            exc_info=(type(exc), exc, exc.__traceback__),
        )
        set_rollback()
        exc = ServerError()
        response = Response(status=exc.status_code)
    code = exc.get_codes() if isinstance(exc, exceptions.ValidationError) else None
    code = "invalid" if code is not None else getattr(exc, "default_code", "error")
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + str(code).replace("_", "-"),
        "title": _title(exc),
        "status": response.status_code,
    }
    if isinstance(exc, exceptions.ValidationError):
        # Well-formed but invalid input: 422 (400 stays for what cannot be read,
        # malformed JSON or a bad header).
        response.status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
        body["status"] = response.status_code
        body["errors"] = _field_errors(exc.detail)
        body["detail"] = "; ".join(
            f"{e['field']}: {e['message']}" if e["field"] else e["message"]
            for e in body["errors"]
        )
    else:
        body["detail"] = str(exc.detail) if hasattr(exc, "detail") else body["title"]
    if request is not None:
        body["instance"] = request.get_full_path()
    body.update(getattr(exc, "extra", {}))
    response.data = body
    response.content_type = CONTENT_TYPE
    return response
