"""The schema-driven test (test_schema.py) runs last, after every test that calls
the API has been recorded (tests/api/coverage.py)."""

from __future__ import annotations

from tests.api import coverage

coverage.install()

LAST = "runs_after_the_api_tests"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", f"{LAST}: run at the end of the session (API coverage)"
    )


def pytest_collection_modifyitems(session, config, items):
    last = [item for item in items if item.get_closest_marker(LAST)]
    if last:
        items[:] = [item for item in items if item not in last] + last
