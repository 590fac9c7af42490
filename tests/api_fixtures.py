"""Calling the REST API in tests: a key for a persona, and a client that sends it.

def test_x(api_client, consultant):
    client = api_client(consultant, Scope.CUSTOMERS_READ)
    response = client.get("/api/v1/customers/?phone=13800138000")
"""

from __future__ import annotations

import itertools

import pytest
from rest_framework.test import APIClient

from crm_site.api.models import ApiKey

_names = itertools.count(1)


def make_key(
    user, *scopes: str, name: str | None = None, **fields
) -> tuple[ApiKey, str]:
    """A saved key acting as ``user`` with these scopes, and its secret."""
    key = ApiKey(
        name=name or f"system-{next(_names)}",
        acts_as=user,
        scopes=list(scopes),
        **fields,
    )
    raw = key.set_new_secret()
    key.save()
    return key, raw


@pytest.fixture
def api_client(db):
    """api_client(user, *scopes, **key_fields) -> an APIClient sending that key;
    the key is on ``client.key``."""

    def build(user, *scopes: str, **fields) -> APIClient:
        key, raw = make_key(user, *scopes, **fields)
        client = APIClient(HTTP_AUTHORIZATION=f"Bearer {raw}")
        client.key = key
        client.raw_key = raw
        return client

    return build
