"""What every operation of the OpenAPI document shares, added in one place.

A drf-spectacular post-processing hook (SPECTACULAR_SETTINGS): the ``Problem``
schema, the problem responses each operation may answer (400/401/403/404/422/429 for
all; 409 for writes too), ``Retry-After`` on 429 and ``Idempotency-Key`` on
every POST. A resource's own ``extend_schema`` responses (a 409 with
``existing_id``…) are kept: only missing codes are added.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import get_doc

from crm_site.api.idempotency import HEADER, REPLAYED_HEADER
from crm_site.api.problems import CONTENT_TYPE


class ApiSchema(AutoSchema):
    """The operation's description is its own (action or view docstring): not the
    base classes' text about themselves."""

    def get_description(self) -> str:
        action = getattr(self.view, getattr(self.view, "action", None) or "", None)
        action = action or getattr(self.view, self.method.lower(), None)
        own = get_doc(action) if action is not None else ""
        view_class = self.view.__class__
        if not own and view_class.__dict__.get("__doc__"):
            own = get_doc(view_class)
        return own


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """The security scheme of every operation: the integration's key."""

    target_class = "crm_site.api.auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "anju_<lookup>_<secret>",
            "description": "An integration's key, created by an administrator "
            "(Authorization: Bearer anju_…).",
        }


WRITES = {"post", "put", "patch", "delete"}
METHODS = WRITES | {"get", "head", "options"}

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "An error, as RFC 9457 problem details, in the caller's "
    "language (Accept-Language: zh-Hans, the default, or en).",
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "Validation errors, one per field and message "
            '(field "" for the request as a whole).',
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                },
                "required": ["field", "message"],
            },
        },
        "existing_id": {
            "type": "integer",
            "description": "On a 409 for a twin: the id of the record that exists.",
        },
    },
    "required": ["type", "title", "status"],
    "example": {
        "type": "https://anju-crm.example/problems/invalid",
        "title": "Invalid input.",
        "status": 422,
        "detail": "mobile: Enter a valid mobile number.",
        "instance": "/api/v1/customers/",
        "errors": [{"field": "mobile", "message": "Enter a valid mobile number."}],
    },
}

RESPONSES = {
    "400": "The request cannot be read: malformed JSON or an invalid "
    "Idempotency-Key header.",
    "401": "No key, an unknown, rotated or revoked key, or its user is inactive.",
    "403": "The key lacks the scope, or its user the permission, for this call.",
    "404": "Not found, or outside what the key's user may see.",
    "409": "A conflict: a twin exists (existing_id), the record's state forbids "
    "the change, or a request with this Idempotency-Key is still running.",
    "422": "Invalid input: errors lists each field and why, nothing was saved; or "
    "this Idempotency-Key was already used for a different request.",
    "429": "Over the key's rate limit; retry after Retry-After seconds.",
}


def _problem_response(code: str) -> dict:
    response = {
        "description": RESPONSES[code],
        "content": {CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if code == "429":
        response["headers"] = {
            "Retry-After": {
                "description": "Seconds until the key may call again.",
                "schema": {"type": "integer"},
            }
        }
    return response


def add_common_responses(result, generator, request, public):
    components = result.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    shared = components.setdefault("responses", {})
    for code in RESPONSES:
        shared[f"Problem{code}"] = _problem_response(code)
    components.setdefault("parameters", {})["IdempotencyKey"] = {
        "name": HEADER,
        "in": "header",
        "required": False,
        "description": "Any unique string (a UUID) per logical request: a retry "
        "with the same key and body returns the first answer (with "
        f"{REPLAYED_HEADER}: true) instead of acting twice; kept 24 hours.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    }
    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            responses = operation.setdefault("responses", {})
            codes = ["400", "401", "403", "404", "422", "429"]
            if method in WRITES:
                codes.append("409")
            for code in codes:
                responses.setdefault(
                    code, {"$ref": f"#/components/responses/Problem{code}"}
                )
            if method == "post":
                parameters = operation.setdefault("parameters", [])
                if not any(p.get("name") == HEADER for p in parameters):
                    parameters.append(
                        {"$ref": "#/components/parameters/IdempotencyKey"}
                    )
                for code, response in responses.items():
                    if code.startswith("2") and "$ref" not in response:
                        response.setdefault("headers", {})[REPLAYED_HEADER] = {
                            "description": "true when this is the stored answer "
                            "to an earlier request with the same Idempotency-Key.",
                            "schema": {"type": "string", "enum": ["true"]},
                        }
    return result
