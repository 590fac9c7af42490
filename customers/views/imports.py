"""Customer import (being written)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse


def _missing(request: HttpRequest, **kwargs: object) -> HttpResponse:
    raise Http404


import_list = import_upload = import_detail = import_progress = _missing
import_start = import_rejected = import_revert = _missing
