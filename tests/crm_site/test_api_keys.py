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


# The administrators' screens (Django admin) ------------------------------------------

ADD = "/admin/crm_site/apikey/add/"


@pytest.fixture
def admin_client(client, administrator):
    client.force_login(administrator)
    return client


def _secret_in(html: str) -> str:
    import re

    return re.search(r'id="api-key-secret"[^>]*value="([^"]+)"', html).group(1)


def _create(admin_client, acts_as, **extra):
    data = {
        "name": "ERP",
        "acts_as": acts_as.pk,
        "scopes": [Scope.CUSTOMERS_READ, Scope.DEALS_READ],
        "rate_per_minute": 120,
        **extra,
    }
    return admin_client.post(ADD, data, HTTP_ACCEPT_LANGUAGE="en")


def test_an_administrator_creates_a_key_and_sees_its_secret_once(
    admin_client, sales_manager, caplog
):
    from crm_site.api.models import ApiKey
    from crm_site.models import AuditEntry

    with caplog.at_level("DEBUG"):
        response = _create(admin_client, sales_manager)
    assert response.status_code == 200  # the answer to the POST, not a redirect
    assert "no-store" in response["Cache-Control"]
    key = ApiKey.objects.get(name="ERP")
    assert key.acts_as == sales_manager
    assert key.scopes == [Scope.CUSTOMERS_READ, Scope.DEALS_READ]
    assert key.rate_per_minute == 120
    html = response.content.decode()
    secret = _secret_in(html)
    assert secret.startswith(f"anju_{key.lookup}_")
    assert key.matches(secret.split("_", 2)[2])
    assert secret.split("_", 2)[2] not in key.digest
    # Nowhere else: not in the session's messages, the log, later pages.
    assert secret not in str(response.cookies)
    assert not any(secret in record.getMessage() for record in caplog.records)
    for url in ("/admin/crm_site/apikey/", f"/admin/crm_site/apikey/{key.pk}/change/"):
        page = admin_client.get(url, HTTP_ACCEPT_LANGUAGE="en")
        assert page.status_code == 200
        assert secret not in page.content.decode()
    entry = AuditEntry.objects.get(object_id=key.pk, action="create")
    assert "secret" not in str(entry.changes) and secret not in str(entry.changes)
    assert entry.actor.username == "admin"
    # The key works.
    from rest_framework.test import APIClient

    api = APIClient(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/v1/schema/").status_code == 200


def test_a_key_cannot_act_as_an_inactive_user(admin_client, consultant):
    from crm_site.api.models import ApiKey

    consultant.is_active = False
    consultant.save()
    response = _create(admin_client, consultant)
    assert response.status_code == 200
    assert "This user is inactive." in response.content.decode()
    assert not ApiKey.objects.exists()


def test_rotate_shows_a_new_secret_and_the_old_one_stops(admin_client, consultant):
    from crm_site.models import AuditEntry
    from tests.api_fixtures import make_key

    key, old = make_key(consultant, Scope.CUSTOMERS_READ, name="Hotline")
    url = f"/admin/crm_site/apikey/{key.pk}/rotate/"
    confirm = admin_client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert confirm.status_code == 200 and "stops working" in confirm.content.decode()
    key.refresh_from_db()
    assert key.matches(old.split("_", 2)[2])  # a GET changes nothing
    response = admin_client.post(url, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    new = _secret_in(response.content.decode())
    key.refresh_from_db()
    assert new != old and key.rotated_at is not None
    assert key.matches(new.split("_", 2)[2])
    assert not key.matches(old.split("_", 2)[2])
    assert AuditEntry.objects.filter(object_id=key.pk, action="key_rotate").exists()


def test_revoke(admin_client, consultant):
    from crm_site.api.models import ApiKey
    from crm_site.models import AuditEntry
    from tests.api_fixtures import make_key

    key, _raw = make_key(consultant, Scope.CUSTOMERS_READ, name="Website")
    url = f"/admin/crm_site/apikey/{key.pk}/revoke/"
    response = admin_client.post(url)
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert not ApiKey.objects.usable().filter(pk=key.pk).exists()
    assert AuditEntry.objects.filter(object_id=key.pk, action="key_revoke").count() == 1
    admin_client.post(url)  # again: nothing more
    assert AuditEntry.objects.filter(object_id=key.pk, action="key_revoke").count() == 1
    # A revoked key cannot be rotated back to life, nor deleted.
    assert (
        admin_client.post(f"/admin/crm_site/apikey/{key.pk}/rotate/").status_code == 302
    )
    key.refresh_from_db()
    assert key.rotated_at is None
    assert (
        admin_client.get(f"/admin/crm_site/apikey/{key.pk}/delete/").status_code == 403
    )


def test_changing_scopes_is_audited(admin_client, consultant):
    from crm_site.models import AuditEntry
    from tests.api_fixtures import make_key

    key, _raw = make_key(consultant, Scope.CUSTOMERS_READ, name="Website")
    response = admin_client.post(
        f"/admin/crm_site/apikey/{key.pk}/change/",
        {
            "name": "Website",
            "acts_as": consultant.pk,
            "scopes": [Scope.INVENTORY_READ],
            "rate_per_minute": 60,
        },
    )
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.scopes == [Scope.INVENTORY_READ] and key.rate_per_minute == 60
    entry = AuditEntry.objects.get(object_id=key.pk, action="update")
    assert set(entry.changes) == {"scopes", "rate_per_minute"}


def test_the_list_shows_last_use_scopes_user_and_role(
    admin_client, sales_manager, consultant, django_assert_max_num_queries
):
    from django.utils import timezone

    from tests.api_fixtures import make_key

    key, _raw = make_key(sales_manager, Scope.DEALS_READ, name="ERP")
    key.last_used_at = timezone.now()
    key.save()
    make_key(consultant, Scope.CUSTOMERS_READ, name="Hotline")
    response = admin_client.get("/admin/crm_site/apikey/", HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    for text in ("ERP", "Hotline", "deals:read", "Sales manager", "Sales consultant"):
        assert text in html, text
    # The count does not grow with the keys.
    with django_assert_max_num_queries(12) as queries:
        admin_client.get("/admin/crm_site/apikey/")
    before = len(queries)
    for n in range(5):
        make_key(consultant, Scope.CUSTOMERS_READ, name=f"more-{n}")
    with django_assert_max_num_queries(before):
        admin_client.get("/admin/crm_site/apikey/")


def test_only_administrators_reach_the_keys(client, sales_manager):
    client.force_login(sales_manager)
    response = client.get("/admin/crm_site/apikey/")
    assert response.status_code == 302
