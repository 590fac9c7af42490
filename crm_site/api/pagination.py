"""Cursor pagination for every list: stable under inserts, constant cost per page."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination


class Cursor(CursorPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    # Lists are newest first by id (every list table has its primary key indexed).
    ordering = "-pk"
