"""Persona fixtures shared by every test, in the manner of healthchecks' Alice and Bob.

- consultant and other_consultant sell in the same team; sales_manager leads it.
- service_agent, service_manager, marketer, executive and administrator hold one role each.
- outsider can log in but holds no role.
"""

from __future__ import annotations

import os
import sys
from fnmatch import fnmatch
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from asgiref.local import Local
from django.conf import settings
from django.core.cache import caches, close_caches
from django.test import override_settings
from django.utils import translation

from crm_site.models import User
from crm_site.roles import Role

# Calling the REST API with an integration's key: api_client(user, *scopes).
from tests.api_fixtures import api_client  # noqa: F401
from tests.factories import CustomerFactory, TeamFactory, UserFactory

# The owners' portal personas: owner, owner_client, other_owner, other_owner_client.
from tests.portal_fixtures import (  # noqa: F401
    other_owner,
    other_owner_client,
    other_owner_household,
    owner,
    owner_client,
    owner_household,
)

PASSWORD = "test-pass-2026"

# The suite runs in two processes (pytest-xdist, scripts/test.sh), each on its own
# test database. Each uses its own Redis database too: a test's cache.clear() empties
# its whole Redis database, ids repeat across the test databases (a cached user or
# count must never cross over), and the screen pop's channels are named by agent id.
if worker := os.environ.get("PYTEST_XDIST_WORKER"):
    _redis = urlsplit(settings.REDIS_URL)
    _db = (int(_redis.path.strip("/") or 0) + int(worker.removeprefix("gw"))) % 16
    settings.REDIS_URL = urlunsplit(_redis._replace(path=f"/{_db}"))
    settings.CACHES["default"]["LOCATION"] = settings.REDIS_URL
    close_caches()
    caches._settings = caches.settings = caches.configure_settings(None)
    caches._connections = Local()


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


# After each transactional test (transactional_db, live_server) Django's flush
# truncates every table: PostgreSQL gives each of ~200 tables and their indexes new
# files, ~0.5 s a test, ~150 times a run. Deleting the rows costs a few ms on tables
# a test has barely filled. Passes repeat until one deletes nothing: the insight's
# triggers mark rows deleted by one pass dirty (crm_site_factdirty), the next takes
# those. The result is the same as TRUNCATE's: every table empty, sequences kept,
# then post_migrate as before.
_DELETE_ALL = """
DO $$
DECLARE
  name text;
  deleted bigint;
  total bigint;
BEGIN
  FOR pass IN 1..10 LOOP
    total := 0;
    FOREACH name IN ARRAY ARRAY[{tables}]::text[] LOOP
      EXECUTE format('DELETE FROM %I', name);
      GET DIAGNOSTICS deleted = ROW_COUNT;
      total := total + deleted;
    END LOOP;
    IF total = 0 THEN
      RETURN;
    END IF;
  END LOOP;
  RAISE EXCEPTION 'tables still not empty after 10 passes of deletes';
END $$
"""


@pytest.fixture(autouse=True, scope="session")
def _quick_flush():
    from django.core.management.commands import flush

    truncate = flush.sql_flush

    def sql_flush(style, connection, reset_sequences=True, allow_cascade=False):
        if reset_sequences or allow_cascade or connection.vendor != "postgresql":
            return truncate(style, connection, reset_sequences, allow_cascade)
        tables = connection.introspection.django_table_names(
            only_existing=True, include_views=False
        )
        if not tables:
            return []
        quoted = ", ".join("'" + table.replace("'", "''") + "'" for table in tables)
        return [_DELETE_ALL.format(tables=quoted)]

    flush.sql_flush = sql_flush
    yield
    flush.sql_flush = truncate


@pytest.fixture(autouse=True)
def _default_language():
    # A test that switched the language with translation.activate() and did not
    # switch back must not leave the next test of its process in that language.
    translation.deactivate()
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


def _named_keys_only(sender, instance, created=True, **kwargs) -> None:
    unnamed = instance.unnamed_keys()
    assert not unnamed, (
        f"audit entry on {instance.content_type.model_class().__name__} with keys "
        f"{unnamed} the trail can only show as code: name them in "
        "AuditEntry.EXTRA_LABELS (with a translation), use the field's name, and "
        "give the field a translated verbose_name"
    )


@pytest.fixture(autouse=True, scope="session")
def _audit_keys_are_named():
    """Every key of an audit entry written through the ORM is a field of its model
    with a translated label, or one of AuditEntry.EXTRA_LABELS: the trail shows
    each in the reader's language, never as the code calls it ("chosen_by").
    Entries written in bulk (audited_update, audit_created, erasures, import
    reverts) send no post_save: their bulk_create is checked too."""
    from django.db.models.query import QuerySet
    from django.db.models.signals import post_save

    from crm_site.models import AuditEntry

    bulk_create = QuerySet.bulk_create

    def checked_bulk_create(self, objs, *args, **kwargs):
        if self.model is AuditEntry:
            objs = list(objs)
            for entry in objs:
                _named_keys_only(AuditEntry, entry)
        return bulk_create(self, objs, *args, **kwargs)

    post_save.connect(_named_keys_only, sender=AuditEntry, dispatch_uid="named-keys")
    QuerySet.bulk_create = checked_bulk_create
    yield
    QuerySet.bulk_create = bulk_create
    post_save.disconnect(sender=AuditEntry, dispatch_uid="named-keys")


@pytest.fixture(autouse=True)
def _every_change_is_audited(request):
    """No code path changes a customer, deal or service request without an audit entry.

    Every save of an existing row of an audited model whose audited fields change in
    the database is remembered; when the test ends, each such row must have an audit
    entry. (Bulk updates are guarded by crm_site.audit.AuditedQuerySet.) Tests that
    set up a state by saving rows directly say so with @pytest.mark.unaudited.
    """
    if request.node.get_closest_marker("unaudited"):
        yield
        return
    marker = request.node.get_closest_marker("django_db")
    names = request.fixturenames
    # The database must outlive this fixture's check: set it up first.
    if (
        "live_server" in names
        or "transactional_db" in names
        or (marker is not None and marker.kwargs.get("transaction"))
    ):
        request.getfixturevalue("transactional_db")
    elif marker is not None or "db" in names:
        request.getfixturevalue("db")
    else:
        yield
        return
    yield from _watch_audited_saves()


_TESTS_DIR = str(Path(__file__).resolve().parent)
_PROJECT_DIR = str(Path(__file__).resolve().parent.parent)


def _called_from_tests() -> bool:
    """Whether the nearest project frame up the stack is test code (a test's own
    set-up), not the application code under test."""
    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith(_PROJECT_DIR) and ".venv" not in filename:
            return filename.startswith(_TESTS_DIR) and filename != __file__
        frame = frame.f_back
    return False


def _watch_audited_saves():
    from django.contrib.contenttypes.models import ContentType
    from django.db.models.signals import pre_save

    from crm_site import audit
    from crm_site.models import AuditEntry
    from customers.models import Customer
    from sales.models import Opportunity
    from service.models import ServiceRequest

    audited = (Customer, Opportunity, ServiceRequest)
    # (model, pk) -> (the newest audit entry id before its first change, the row's
    # audited values before it)
    changed: dict[tuple[type, int], tuple[int, dict]] = {}

    def before_save(sender, instance, raw=False, update_fields=None, **kwargs):
        if sender not in audited or raw or instance._state.adding or not instance.pk:
            return
        if _called_from_tests() or audit._bulk_audited.get():
            return
        fields = [
            sender._meta.get_field(name)
            for name in sender.AUDITED_FIELDS
            if update_fields is None or name in update_fields
        ]
        if not fields:
            return
        stored = (
            sender._base_manager.filter(pk=instance.pk)
            .values(*[field.attname for field in fields])
            .first()
        )
        if stored is None:
            return
        if (sender, instance.pk) not in changed and any(
            getattr(instance, f.attname) != stored[f.attname] for f in fields
        ):
            mark = AuditEntry.objects.order_by("-pk").values_list("pk", flat=True)
            changed[sender, instance.pk] = (mark.first() or 0, stored)

    guarded_update = audit.AuditedQuerySet.update

    def update(queryset, **kwargs):
        # A test may set up a state with a bulk update; the code under test may not.
        if _called_from_tests():
            with audit.unaudited("test set-up"):
                return guarded_update(queryset, **kwargs)
        return guarded_update(queryset, **kwargs)

    pre_save.connect(before_save, weak=False, dispatch_uid="test-audited-saves")
    audit.AuditedQuerySet.update = update
    try:
        yield
    finally:
        audit.AuditedQuerySet.update = guarded_update
        pre_save.disconnect(dispatch_uid="test-audited-saves")
    missing = [
        f"{model.__name__} #{pk}"
        for (model, pk), (mark, before) in changed.items()
        # A change rolled back with its transaction needs no entry.
        if model._base_manager.filter(pk=pk).values(*before).first()
        not in (None, before)
        and not AuditEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(model),
            object_id=pk,
            pk__gt=mark,
        ).exists()
    ]
    assert not missing, f"changed without an audit entry: {', '.join(missing)}"


# Test modules that call the REST API (tests/api/test_schema.py checks that they
# exercise every operation of the schema, from what this process recorded).
_API_TESTS = ("test_*api*.py", "test_telephony*.py")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist names the groups
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (scripts/test.sh: --dist loadgroup) the API tests and the
    schema coverage check run in one process, so the check sees every call."""
    for item in items:
        path = item.path
        if "browser" in path.parts:
            continue
        if path.parent.name == "api" or any(
            fnmatch(path.name, pattern) for pattern in _API_TESTS
        ):
            item.add_marker(pytest.mark.xdist_group("api"))
