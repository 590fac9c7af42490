"""A property-based fuzz of the whole API (schemathesis): whatever is registered,
no generated request gets a server error.

The key has every scope and acts as an administrator, so the calls get past the
key and the scope into the resources. Bounded: a few examples per operation
(FUZZ_EXAMPLES), well under a minute for the whole schema."""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core.cache import cache
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from crm_site.api.scopes import Scope
from tests.api_fixtures import make_key

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "4"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    database=None,
)


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """The WSGI app closes the database connection after each request (Django's
    test client does not): that would end the test's transaction."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_key(db, administrator):
    cache.clear()  # a fresh rate window
    _key, raw = make_key(administrator, *Scope.values, rate_per_minute=100_000)
    return raw


@pytest.fixture
def api_schema(db):
    from tests.api.test_schema import schema_for

    if not schema_for().get("paths"):
        pytest.skip("no resource is registered under /api/v1/ yet")
    return schemathesis.openapi.from_wsgi("/api/v1/schema/", get_wsgi_application())


@pytest.fixture
def test_api_schema(db, settings):
    settings.ROOT_URLCONF = "tests.api.urls"
    return schemathesis.openapi.from_wsgi(
        "/api/v1/test-schema/", get_wsgi_application()
    )


schema = schemathesis.pytest.from_fixture("api_schema")
test_schema = schemathesis.pytest.from_fixture("test_api_schema")


def _call(case, raw_key: str) -> None:
    response = case.call(headers={"Authorization": f"Bearer {raw_key}"})
    case.validate_response(response, checks=[not_a_server_error])


@schema.parametrize()
@FUZZ
def test_no_operation_answers_a_server_error(case, fuzz_key):
    _call(case, fuzz_key)


@test_schema.parametrize()
@FUZZ
def test_the_foundation_answers_no_server_error(case, fuzz_key):
    # The test resource raises on the name "boom" on purpose: not generated here.
    if case.body and isinstance(case.body, dict) and case.body.get("name") == "boom":
        return
    _call(case, fuzz_key)
