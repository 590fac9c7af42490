"""bench/profile_pages.py's category tracer: time counted once, stops honoured."""

from __future__ import annotations

import time

import pytest

from tests.helpers import bench_module

HERE = "tests/crm_site/test_bench_profile.py"


@pytest.fixture(scope="module")
def profile_pages():
    with bench_module("profile_pages") as module:
        yield module


def _work(seconds: float) -> None:
    time.sleep(seconds)


def _outer(again: bool) -> None:
    _work(0.02)
    _inner()
    if again:
        _middle()


def _middle() -> None:
    _outer(again=False)  # the category re-entered through an outsider


def _inner() -> None:
    time.sleep(0.03)


def test_a_category_entered_twice_is_counted_once_and_stops_cut_it_off(
    profile_pages,
):
    Category = profile_pages.Category
    tracer = profile_pages.CategoryTracer(
        [
            Category("outer", [f"{HERE}:_outer"]),
            Category("outer without inner", [f"{HERE}:_outer"], [f"{HERE}:_inner"]),
            Category("inner", [f"{HERE}:_inner"]),
        ]
    )
    started = time.perf_counter()
    with tracer:
        _outer(again=True)
    elapsed = time.perf_counter() - started
    outer, outer_own, inner = tracer.totals

    # Everything happened inside _outer: counted once, not twice for the re-entry.
    assert 0.095 <= outer <= elapsed
    # Two calls of _inner (0.03 s each) are cut out of the second category.
    assert 0.035 <= outer_own <= outer - 0.055
    assert 0.055 <= inner <= 0.08
