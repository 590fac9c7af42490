"""Small helpers shared by tests."""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection
from django.test.utils import CaptureQueriesContext


def count_queries(action: Callable[[], object]) -> int:
    with CaptureQueriesContext(connection) as ctx:
        action()
    return len(ctx.captured_queries)


def assert_queries_do_not_grow(
    action: Callable[[], object], grow: Callable[[], object], *, at_most: int
) -> None:
    """Run `action`, add rows with `grow`, run it again: the query count must not rise."""
    action()  # warm caches (permissions, content types)
    before = count_queries(action)
    assert before <= at_most, f"{before} queries, expected at most {at_most}"
    grow()
    action()  # new users or roles in `grow` invalidate the cached permissions
    after = count_queries(action)
    assert after <= before, f"queries grew from {before} to {after} with more rows"
