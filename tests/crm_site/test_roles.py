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


def _granted(group: Group) -> set[str]:
    return {
        f"{p.content_type.app_label}.{p.codename}"
        for p in group.permissions.select_related("content_type")
    }


def _perm(name: str):
    from django.contrib.auth.models import Permission

    app_label, codename = name.split(".", 1)
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


@pytest.mark.django_db
def test_an_upgraded_executive_group_loses_the_actions_it_held_and_keeps_hand_added_ones():
    """A database from before this release: the executive group still holds the
    managers' actions, and an administrator added a permission of their own."""
    import importlib

    from django.apps import apps
    from django.contrib.auth.models import Permission

    revoke = importlib.import_module(
        "crm_site.migrations.0005_revoke_read_only_role_actions"
    )
    executive = Group.objects.get(name="executive")
    marketing = Group.objects.get(name="marketing")
    for name in revoke.REVOKED["executive"]:
        executive.permissions.add(_perm(name))
    for name in revoke.REVOKED["marketing"]:
        marketing.permissions.add(_perm(name))
    hand_added = _perm("customers.view_contact")
    executive.permissions.add(hand_added)

    revoke.revoke(apps, None)

    assert not _granted(executive) & set(revoke.REVOKED["executive"])
    assert not _granted(marketing) & set(revoke.REVOKED["marketing"])
    assert "customers.view_contact" in _granted(executive)
    assert Permission.objects.filter(pk=hand_added.pk).exists()


def test_no_revoked_default_is_a_default_again():
    import importlib

    revoke = importlib.import_module(
        "crm_site.migrations.0005_revoke_read_only_role_actions"
    )
    for group_name, names in revoke.REVOKED.items():
        role = next(r for r in ROLE_PERMISSIONS if r.value == group_name)
        assert not set(names) & set(ROLE_PERMISSIONS[role]), role


@pytest.mark.parametrize("persona", ["executive"], indirect=True)
def test_the_executive_sees_the_desks_but_every_action_refuses_it(
    client, persona, own_customer
):
    from sales import services as sales_services
    from tests.factories import make_building

    building = make_building()
    deal = sales_services.opportunity_open(
        actor=own_customer.assigned_consultant,
        customer=own_customer,
        project=building.project,
    )
    client.force_login(persona)
    assert (
        client.get(reverse("sales:opportunity-detail", args=[deal.pk])).status_code
        == 200
    )
    assert client.get(reverse("sales:approval-list")).status_code == 200
    assert client.get(reverse("service:dashboard")).status_code == 200
    for url in (
        reverse("sales:opportunity-move", args=[deal.pk]),
        reverse("sales:hold-release", args=[deal.pk]),
        reverse("sales:opportunity-contract", args=[deal.pk]),
    ):
        assert client.post(url, {"stage": "lost"}).status_code == 403, url
    deal.refresh_from_db()
    assert deal.stage != "lost"
