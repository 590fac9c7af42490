"""Export of the filtered customer list (being written)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse


def customer_export(request: HttpRequest) -> HttpResponse:
    raise Http404
