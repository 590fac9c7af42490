"""Schema-driven tests: the OpenAPI document is complete, and every operation in it
is exercised by at least one test of the suite (tests/api/coverage.py records the
requests; the check runs last). A resource registered without a test that gets a
2xx from each of its operations fails here, whoever registers it."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.utils import translation
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

from tests.api import coverage

TESTS = Path(__file__).resolve().parents[1]
#: The test modules that call the API; the coverage check needs them all in the
#: session (a partial run skips it). Name API tests so that they match.
API_TEST_GLOBS = ["**/test_*api*.py", "**/test_telephony*.py"]


def schema_for(urlconf: str = "crm_site.api.v1_urls") -> dict:
    with translation.override("en"):
        return SchemaGenerator(urlconf=urlconf).get_schema(request=None, public=True)


def _check_complete(schema: dict) -> list[str]:
    problems = []
    components = schema.get("components", {})
    for op in coverage.operations(schema):
        operation = schema["paths"][op.template][op.method.lower()]
        if operation.get("security") != [{"ApiKey": []}]:
            problems.append(f"{op}: no ApiKey security")
        codes = {"400", "401", "403", "404", "422", "429"}
        if op.method != "GET":
            codes.add("409")
        for code in sorted(codes - set(operation["responses"])):
            problems.append(f"{op}: no {code} response")
        if not any(code.startswith("2") for code in operation["responses"]):
            problems.append(f"{op}: no success response")
        if op.method == "POST" and {
            "$ref": "#/components/parameters/IdempotencyKey"
        } not in operation.get("parameters", []):
            problems.append(f"{op}: no Idempotency-Key")
    if schema.get("paths"):
        assert components["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    return problems


@pytest.mark.parametrize("urlconf", ["crm_site.api.v1_urls", "tests.api.urls"])
def test_the_schema_is_valid_and_complete(urlconf):
    schema = schema_for(urlconf)
    validate_schema(schema)
    assert _check_complete(schema) == []


def test_the_test_resource_shows_the_shared_parts():
    schema = schema_for("tests.api.urls")
    create = schema["paths"]["/api/v1/test-teams/"]["post"]
    assert create["responses"]["429"] == {"$ref": "#/components/responses/Problem429"}
    problem429 = schema["components"]["responses"]["Problem429"]
    assert "Retry-After" in problem429["headers"]
    assert "application/problem+json" in problem429["content"]
    assert "Idempotent-Replayed" in create["responses"]["201"]["headers"]
    # Base classes do not lend their docstring to every operation.
    assert "plain endpoint" not in str(schema["paths"]["/api/v1/test-ping/"])


@pytest.mark.urls("tests.api.urls")
@pytest.mark.django_db
def test_the_recorder_sees_which_operations_a_test_ran(api_client, administrator):
    from crm_site.api.scopes import Scope

    schema = schema_for("tests.api.urls")
    start = len(coverage.HITS)
    client = api_client(administrator, Scope.CUSTOMERS_READ)
    client.get("/api/v1/test-teams/")
    client.get("/api/v1/test-teams/0/")  # a 404: not an exercise of the operation
    hits = coverage.HITS[start:]
    assert [(m, p) for m, p, _s in hits] == [
        ("GET", "/api/v1/test-teams/"),
        ("GET", "/api/v1/test-teams/0/"),
    ]
    # (The test URLconf routes the registered resources too: only its own here.)
    test_only = [op for op in coverage.unexercised(schema, hits) if "/test-" in op]
    assert sorted(test_only) == [
        "GET /api/v1/test-teams/{id}/",
        "POST /api/v1/test-ping/",
        "POST /api/v1/test-teams/",
    ]


@pytest.mark.runs_after_the_api_tests
def test_every_operation_of_the_schema_is_exercised(request):
    collected = {Path(str(item.path)).resolve() for item in request.session.items}
    expected = {
        p.resolve()
        for pattern in API_TEST_GLOBS
        for p in TESTS.glob(pattern)
        if "browser" not in p.parts  # a live server: not recorded, not needed
    }
    absent = sorted(str(p.relative_to(TESTS.parent)) for p in expected - collected)
    if absent:
        pytest.skip(
            "needs every API test module in the session (run the whole suite, or "
            "add these): " + " ".join(absent)
        )
    missing = coverage.unexercised(schema_for())
    assert missing == [], (
        "operations of /api/v1/schema/ that no test got a 2xx from:\n"
        + "\n".join(missing)
    )
