"""Errors as RFC 9457 problem details, in the caller's language (Accept-Language)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

PROBLEM_TYPE_BASE = "https://anju-crm.example/problems/"
CONTENT_TYPE = "application/problem+json"


class Conflict(exceptions.APIException):
    """409: the call would create a twin or break a rule on the row's state. ``extra``
    goes into the problem (for a twin: the existing record's id)."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"

    def __init__(self, detail: Any = None, *, extra: dict | None = None) -> None:
        super().__init__(detail)
        self.extra = extra or {}


def _field_errors(detail: Any, prefix: str = "") -> list[dict[str, str]]:
    """DRF's nested error dict as a flat list of {field, message}."""
    errors: list[dict[str, str]] = []
    if isinstance(detail, dict):
        for name, value in detail.items():
            field = name if name != "non_field_errors" else ""
            errors += _field_errors(value, f"{prefix}.{field}" if prefix else field)
    elif isinstance(detail, list):
        for item in detail:
            errors += _field_errors(item, prefix)
    else:
        errors.append({"field": prefix, "message": str(detail)})
    return errors


def problem_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None  # a server error: Django's 500 handling and logging
    code = getattr(exc, "default_code", "error")
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + str(code).replace("_", "-"),
        "title": str(getattr(exc, "default_detail", "")) or str(code),
        "status": response.status_code,
    }
    request = context.get("request")
    if request is not None:
        body["instance"] = request.get_full_path()
    if isinstance(exc, exceptions.ValidationError):
        body["errors"] = _field_errors(exc.detail)
        body["detail"] = "; ".join(
            f"{e['field']}: {e['message']}" if e["field"] else e["message"]
            for e in body["errors"]
        )
    else:
        body["detail"] = str(exc.detail) if hasattr(exc, "detail") else body["title"]
    body.update(getattr(exc, "extra", {}))
    response.data = body
    response.content_type = CONTENT_TYPE
    return response
