"""Cursor pagination for every list: stable under inserts, constant cost per page."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import Field, Model
from django.utils import timezone
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination

from crm_site.validation import BIGINT_MAX


def _usable(field: Field, position: str) -> bool:
    """Whether a cursor's position is a value of the ordering's field: the cursor is
    not signed, and ``pk < 'abc'`` would end in a 500."""
    try:
        value = field.to_python(position)
    except (ValidationError, ValueError, TypeError, OverflowError):
        return False
    if isinstance(value, datetime):
        return timezone.is_aware(value)
    if isinstance(value, int):
        return -BIGINT_MAX - 1 <= value <= BIGINT_MAX
    return value is not None


class Cursor(CursorPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    # Lists are newest first by id (every list table has its primary key indexed).
    ordering = "-pk"

    _model: type[Model] | None = None

    def paginate_queryset(self, queryset, request, view=None):
        self._model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        """DRF's, and a position that is not a value of the ordering's first field
        is an invalid cursor (404) as one DRF cannot decode is."""
        cursor = super().decode_cursor(request)
        if cursor is None or cursor.position is None or self._model is None:
            return cursor
        ordering = self.ordering
        first = (ordering if isinstance(ordering, str) else ordering[0]).lstrip("-")
        meta = self._model._meta
        try:
            field = meta.pk if first == "pk" else meta.get_field(first)
        except FieldDoesNotExist:
            return cursor  # an annotation: nothing to check it against
        if not _usable(field, cursor.position):
            raise NotFound(self.invalid_cursor_message)
        return cursor
