from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from crm_site.roles import ROLE_PERMISSIONS

NAV = {
    "customers": reverse("customers:customer-list"),
    "sales": reverse("sales:home"),
    "service": reverse("service:home"),
    "marketing": reverse("marketing:home"),
}

# What each persona's navigation shows, and nothing else.
EXPECTED_NAV = {
    "consultant": {"customers", "sales"},
    "sales_manager": {"customers", "sales"},
    "service_agent": {"customers", "service"},
    "service_manager": {"customers", "service"},
    "marketer": {"customers", "marketing"},
    "executive": {"customers", "sales", "service", "marketing"},
    "administrator": {"customers", "sales", "service", "marketing"},
    "outsider": set(),
}


@pytest.mark.django_db
def test_every_role_group_exists_with_its_permissions():
    for role, perms in ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=role.value)
        granted = {
            f"{p.content_type.app_label}.{p.codename}"
            for p in group.permissions.select_related("content_type")
        }
        assert set(perms) <= granted, role


@pytest.mark.parametrize(
    ("persona", "allowed"), list(EXPECTED_NAV.items()), indirect=["persona"]
)
def test_navigation_shows_each_role_what_it_may_use(client, persona, allowed):
    client.force_login(persona)
    response = client.get(reverse("home"), follow=True)
    assert response.status_code == 200
    body = response.content.decode()
    assert {name for name, url in NAV.items() if f'href="{url}"' in body} == allowed


@pytest.mark.parametrize(
    ("persona", "allowed"), list(EXPECTED_NAV.items()), indirect=["persona"]
)
def test_landing_pages_open_for_their_roles_and_refuse_the_rest(
    client, persona, allowed
):
    client.force_login(persona)
    for name, url in NAV.items():
        expected = 200 if name in allowed else 403
        assert client.get(url).status_code == expected, (persona.username, name)


@pytest.mark.parametrize(
    "persona", ["consultant", "sales_manager", "executive", "outsider"], indirect=True
)
def test_admin_site_is_for_administrators_only(client, persona):
    persona.is_staff = True
    persona.save()
    client.force_login(persona)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert reverse("admin:login") in response.url


def test_administrator_opens_the_admin(client, administrator):
    client.force_login(administrator)
    assert client.get(reverse("admin:index")).status_code == 200


def test_header_shows_the_user_and_role(client, consultant):
    client.force_login(consultant)
    body = client.get(reverse("home"), follow=True).content.decode()
    assert consultant.display_name in body
    assert "置业顾问" in body
