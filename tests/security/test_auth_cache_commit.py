"""The cached user and permissions (crm_site.auth_backends) after a deactivation or
a role taken away: the change is in force on the user's next request, whether a page
was read while the change was not yet committed or Redis failed a moment before."""

from __future__ import annotations

import threading
from unittest import mock

import pytest
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache
from django.db import connection, transaction
from redis.exceptions import ConnectionError as RedisConnectionError

from crm_site import auth_backends
from crm_site.auth_backends import VERSION_KEY, CachedPermissionBackend
from crm_site.cache import breaker
from crm_site.models import User


def _in_other_transaction(change, reader):
    """Run ``change`` in a transaction on another connection; while it is saved but
    not yet committed, run ``reader`` here (a page of the user's at that moment)."""
    saved, read = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def work():
        try:
            with transaction.atomic():
                change()
                saved.set()
                read.wait(10)
        except BaseException as exc:  # noqa: BLE001 (surfaced below)
            errors.append(exc)
            saved.set()
        finally:
            connection.close()

    thread = threading.Thread(target=work)
    thread.start()
    assert saved.wait(10)
    try:
        reader()
    finally:
        read.set()
        thread.join(10)
    assert not errors


@pytest.fixture
def _breaker_closed():
    yield
    breaker.reset(cache._location)
    auth_backends._bump_pending = False


@pytest.mark.django_db(transaction=True)
def test_a_deactivated_user_is_refused_after_a_page_read_during_the_admins_save(
    consultant,
):
    backend = CachedPermissionBackend()
    assert backend.get_user(consultant.pk) is not None

    def deactivate():
        user = User.objects.get(pk=consultant.pk)
        user.is_active = False
        user.save()

    # The page read in between sees the new version and the old (active) row.
    _in_other_transaction(
        deactivate, lambda: backend.get_user(consultant.pk) is not None
    )
    assert not User.objects.get(pk=consultant.pk).is_active
    assert backend.get_user(consultant.pk) is None


@pytest.mark.django_db(transaction=True)
def test_a_role_taken_away_is_in_force_after_a_page_read_during_the_admins_save(
    consultant,
):
    backend = CachedPermissionBackend()
    assert backend.get_user(consultant.pk).has_perm("sales.use_sales")

    def take_role_away():
        User.objects.get(pk=consultant.pk).groups.clear()

    _in_other_transaction(
        take_role_away,
        lambda: backend.get_user(consultant.pk).has_perm("sales.use_sales"),
    )
    assert not backend.get_user(consultant.pk).has_perm("sales.use_sales")


@pytest.mark.django_db
def test_a_deactivation_while_the_cache_is_skipped_is_not_undone_when_it_returns(
    consultant, _breaker_closed
):
    backend = CachedPermissionBackend()
    assert backend.get_user(consultant.pk) is not None  # cached, as every page does
    # A moment's Redis failure in the administrator's worker: its breaker is open.
    breaker.trip(cache._location, 60)
    consultant.is_active = False
    consultant.save()
    breaker.reset(cache._location)
    assert backend.get_user(consultant.pk) is None


@pytest.mark.django_db
def test_a_bump_redis_did_not_take_is_made_before_the_next_cached_read(
    consultant, _breaker_closed
):
    backend = CachedPermissionBackend()
    assert backend.get_user(consultant.pk) is not None
    # Redis does not answer while the administrator deactivates the user.
    with mock.patch.object(RedisCache, "set", side_effect=RedisConnectionError("down")):
        consultant.is_active = False
        consultant.save()
    assert auth_backends._bump_pending
    # Redis is back (its breaker closes), with the entries cached before.
    breaker.reset(cache._location)
    assert backend.get_user(consultant.pk) is None
    assert not auth_backends._bump_pending


@pytest.mark.django_db
def test_a_user_read_when_the_version_was_not_is_not_cached(consultant):
    backend = CachedPermissionBackend()
    cache.delete(auth_backends._user_key(consultant.pk))
    # Redis did not answer the read (the version exists): nothing goes under None.
    with mock.patch.object(auth_backends, "_read_user_keys", return_value={}):
        assert backend.get_user(consultant.pk) is not None
    assert cache.get(auth_backends._user_key(consultant.pk)) is None


@pytest.mark.django_db
def test_a_lost_version_is_started_again_and_a_later_change_still_bumps_it(
    consultant,
):
    backend = CachedPermissionBackend()
    cache.delete(VERSION_KEY)  # evicted, or Redis restarted empty
    assert backend.get_user(consultant.pk).has_perm("sales.use_sales")
    version = cache.get(VERSION_KEY)
    assert version is not None
    assert cache.get(auth_backends._user_key(consultant.pk))[0] == version
    assert cache.get(auth_backends._key(consultant.pk))[0] == version
    consultant.is_active = False
    consultant.save()
    assert backend.get_user(consultant.pk) is None


@pytest.mark.django_db
def test_a_cached_user_and_permissions_cost_no_query(
    consultant, django_assert_num_queries
):
    backend = CachedPermissionBackend()
    backend.get_user(consultant.pk).has_perm("sales.use_sales")  # caches both
    with django_assert_num_queries(0):
        assert backend.get_user(consultant.pk).has_perm("sales.use_sales")
