from __future__ import annotations

import pytest

from crm_site.api.scopes import Scope


@pytest.mark.django_db
def test_api_schema_is_served_without_a_key(client):
    response = client.get("/api/v1/schema/")
    assert response.status_code == 200
    assert b"openapi" in response.content


@pytest.mark.django_db
def test_api_key_secret_is_stored_only_as_a_digest(api_client, consultant):
    client = api_client(consultant, Scope.CUSTOMERS_READ)
    key = client.key
    assert client.raw_key.startswith("anju_" + key.lookup + "_")
    assert client.raw_key.split("_", 2)[2] not in key.digest
    assert key.matches(client.raw_key.split("_", 2)[2])
