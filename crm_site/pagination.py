"""Pagination that never counts the whole table."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet


@dataclass(frozen=True)
class Page:
    """One page of a list, without counting the whole table (cheap on a million rows)."""

    items: list
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1

    @property
    def previous_page_number(self) -> int:
        return self.number - 1


def paginate(qs: QuerySet, *, page: str | int | None, per_page: int = 25) -> Page:
    try:
        number = max(1, int(page or 1))
    except (TypeError, ValueError):
        number = 1
    offset = (number - 1) * per_page
    rows = list(qs[offset : offset + per_page + 1])
    return Page(items=rows[:per_page], number=number, has_next=len(rows) > per_page)
