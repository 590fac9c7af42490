"""Every chart shows its numbers: value labels or a table beside it, and numbers sit
beside bars, never inside them where a short bar clips them."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from tests.security.world import build_world

DASHBOARDS = {
    "sales:dashboard": "sales_manager",
    "service:dashboard": "service_manager",
    "service:contractor-list": "service_manager",
    "marketing:dashboard": "marketer",
    "marketing:home": "marketer",
}


@pytest.fixture
def world(db):
    cache.clear()
    yield build_world()
    cache.clear()


def _page(world, url_name: str) -> str:
    client = Client()
    client.force_login(world.user(DASHBOARDS[url_name]))
    response = client.get(reverse(url_name))
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("url_name", DASHBOARDS)
def test_bars_carry_no_number_inside_and_each_has_its_number_beside_or_a_name(
    world, url_name
):
    html = _page(world, url_name)
    bars = re.findall(r'<div class="progress-bar[^"]*"[^>]*>(.*?)</div>', html, re.S)
    assert bars, "the page draws bars"
    assert all(not inner.strip() for inner in bars), bars
    for bar in re.findall(r'<div class="progress[ "][^>]*>', html):
        # Either the bar is decoration beside a printed number, or it is a named
        # progress bar with its value.
        assert 'aria-hidden="true"' in bar or (
            'role="progressbar"' in bar and "aria-label=" in bar
        ), bar
    for cell in re.findall(r'<div class="bar-cell[^"]*">(.*?)</div></div>', html, re.S):
        value = re.search(r'<span class="bar-value">([^<]+)</span>', cell)
        assert value and re.search(r"\d", value.group(1)), cell


def test_the_sales_charts_print_their_figures_beside_them(world):
    html = _page(world, "sales:dashboard")
    # The funnel chart has its table beside it; the monthly chart one under it.
    assert 'data-testid="funnel"' in html
    months = re.search(
        r'<table[^>]*data-testid="months-figures">(.*?)</table>', html, re.S
    )
    assert months
    rows = re.findall(r"<tr><th scope=\"row\"[^>]*>(\d{4}-\d{2})</th>", months.group(1))
    assert len(rows) >= 12
    assert months.group(1).count("¥") == 2 * len(rows)
    # The scrolling box of figures can be reached with the keyboard.
    assert re.search(r'class="table-responsive mt-2 chart-figures" tabindex="0"', html)
    # The funnel's bars carry their numbers (drawn by static/js/sales_dashboard.js).
    assert 'id="funnel-chart"' in html
