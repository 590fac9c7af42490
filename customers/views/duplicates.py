"""Duplicate customers and merges (being written)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse


def _missing(request: HttpRequest, **kwargs: object) -> HttpResponse:
    raise Http404


duplicate_list = duplicate_scan = duplicate_merge = duplicate_dismiss = (
    merge_restore
) = _missing
