"""Pagination that never counts the whole table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import QuerySet

# A page number is parsed from the query string: anything past this offset is
# "past the end" for every list we have, and keeps OFFSET inside bigint.
MAX_OFFSET = 10**9


@dataclass(frozen=True)
class Page:
    """One page of a list, without counting the whole table (cheap on a million rows)."""

    items: list
    number: int
    has_next: bool
    # True when the requested page was past the end (or not a page number) and
    # this is the page shown instead.
    moved: bool = False

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1

    @property
    def previous_page_number(self) -> int:
        return self.number - 1


def parse_page_number(page: str | int | None) -> tuple[int, bool]:
    """The page number asked for, and whether the raw value had to be corrected."""
    if page in (None, ""):
        return 1, False
    try:
        number = int(str(page).strip())
    except (TypeError, ValueError):
        return 1, True
    if number < 1:
        return 1, True
    return number, False


def _slice(qs: QuerySet | Sequence, number: int, per_page: int) -> list:
    offset = (number - 1) * per_page
    return list(qs[offset : offset + per_page + 1])


def paginate(
    qs: QuerySet | Sequence, *, page: str | int | None, per_page: int = 25
) -> Page:
    number, moved = parse_page_number(page)
    number = min(number, MAX_OFFSET // per_page + 1)
    rows = _slice(qs, number, per_page)
    if not rows and number > 1:
        # Past the end: the rare case where counting is worth it. The list is
        # shorter than the requested offset, so the count stops there.
        offset = min((number - 1) * per_page, MAX_OFFSET)
        if isinstance(qs, QuerySet):
            total = qs[:offset].count()
        else:
            total = min(len(qs), offset)
        number = max(1, -(-total // per_page))
        rows = _slice(qs, number, per_page)
        moved = True
    return Page(
        items=rows[:per_page], number=number, has_next=len(rows) > per_page, moved=moved
    )
