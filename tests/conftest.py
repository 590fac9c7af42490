"""Persona fixtures shared by every test, in the manner of healthchecks' Alice and Bob.

- consultant and other_consultant sell in the same team; sales_manager leads it.
- service_agent, service_manager, marketer, executive and administrator hold one role each.
- outsider can log in but holds no role.
"""

from __future__ import annotations

import pytest
from django.test import override_settings

from crm_site.models import User
from crm_site.roles import Role
from tests.factories import CustomerFactory, TeamFactory, UserFactory

PASSWORD = "test-pass-2026"


@pytest.fixture(autouse=True, scope="session")
def _plain_static_storage():
    # The manifest needs collectstatic; tests serve static files from the source tree.
    with override_settings(
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {
                "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
            },
        },
        SECURE_SSL_REDIRECT=False,
        # Hashing test passwords slowly proves nothing and costs seconds.
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
    ):
        yield


@pytest.fixture
def team(db):
    return TeamFactory(name="一组")


@pytest.fixture
def other_team(db):
    return TeamFactory(name="二组")


@pytest.fixture
def consultant(team) -> User:
    return UserFactory(
        username="consultant",
        last_name="李",
        first_name="娜",
        team=team,
        role=Role.CONSULTANT,
    )


@pytest.fixture
def other_consultant(team) -> User:
    return UserFactory(
        username="consultant2",
        last_name="王",
        first_name="强",
        team=team,
        role=Role.CONSULTANT,
    )


@pytest.fixture
def far_consultant(other_team) -> User:
    """A consultant of another team: the sales manager of the first team cannot see theirs."""
    return UserFactory(username="consultant3", team=other_team, role=Role.CONSULTANT)


@pytest.fixture
def sales_manager(team) -> User:
    return UserFactory(username="sales_manager", team=team, role=Role.SALES_MANAGER)


@pytest.fixture
def service_agent(db) -> User:
    return UserFactory(username="service_agent", role=Role.SERVICE_AGENT)


@pytest.fixture
def service_manager(db) -> User:
    return UserFactory(username="service_manager", role=Role.SERVICE_MANAGER)


@pytest.fixture
def marketer(db) -> User:
    return UserFactory(username="marketer", role=Role.MARKETING)


@pytest.fixture
def executive(db) -> User:
    return UserFactory(username="executive", role=Role.EXECUTIVE)


@pytest.fixture
def administrator(db) -> User:
    return UserFactory(username="admin", role=Role.ADMINISTRATOR)


@pytest.fixture
def outsider(db) -> User:
    return UserFactory(username="outsider")


@pytest.fixture
def persona(request):
    """Indirect parametrisation: @pytest.mark.parametrize("persona", ["consultant"], indirect=True)."""
    return request.getfixturevalue(request.param)


@pytest.fixture
def own_customer(consultant):
    return CustomerFactory(
        name="张三", mobile="+8613800138000", assigned_consultant=consultant
    )


@pytest.fixture
def others_customer(other_consultant):
    return CustomerFactory(
        name="赵六", mobile="+8613900139000", assigned_consultant=other_consultant
    )


@pytest.fixture
def pool_customer(db):
    return CustomerFactory(
        name="钱七", mobile="+8613700137000", assigned_consultant=None
    )


@pytest.fixture
def owner_customer(other_consultant):
    return CustomerFactory(
        name="孙八",
        mobile="+8613600136000",
        stage="owner",
        assigned_consultant=other_consultant,
    )
