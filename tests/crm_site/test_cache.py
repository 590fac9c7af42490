from __future__ import annotations

import pytest
from django.core.cache import caches
from django.test import override_settings

DOWN = {
    "default": {
        "BACKEND": "crm_site.cache.ResilientRedisCache",
        # A port nothing listens on: Redis is "down".
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
}


@override_settings(CACHES=DOWN)
def test_a_redis_outage_makes_the_cache_miss_instead_of_failing():
    cache = caches["default"]
    cache.set("k", 1)
    assert cache.get("k", "missing") == "missing"
    assert cache.get_many(["k"]) == {}
    assert cache.add("k", 1) is False
    cache.delete("k")


@pytest.mark.django_db
@override_settings(CACHES=DOWN)
def test_pages_still_work_while_redis_is_down(client, consultant):
    client.force_login(consultant)
    assert client.get("/customers/").status_code == 200
    assert client.get("/customers/").status_code == 200  # the session came from the db


@pytest.mark.django_db
def test_permissions_come_from_the_cache_and_follow_group_changes(
    django_assert_num_queries, consultant
):
    from django.contrib.auth.models import Group

    from crm_site.models import User

    def fresh():
        return User.objects.get(pk=consultant.pk)

    assert fresh().has_perm("sales.use_sales")  # reads and caches the set
    user = fresh()
    with django_assert_num_queries(0):
        assert user.has_perm("sales.use_sales")
        assert not user.has_perm("customers.merge_customer")
    # A role given is in force on the next request.
    consultant.groups.add(Group.objects.get(name="sales_manager"))
    assert fresh().has_perm("customers.merge_customer")
    consultant.groups.clear()
    assert not fresh().has_perm("sales.use_sales")


def test_reads_sent_on_a_pooled_connection_answer_as_djangos_client():
    from django.core.cache import cache

    cache.set_many({"read-a": {"x": 1}, "read-b": [1, 2]})
    cache.delete("read-none")
    assert cache.get("read-a") == {"x": 1}
    assert cache.get("read-none", "default") == "default"
    assert cache.get_many(["read-a", "read-none", "read-b"]) == {
        "read-a": {"x": 1},
        "read-b": [1, 2],
    }
    assert cache.get_many([]) == {}


def test_a_read_that_fails_midway_leaves_no_half_read_connection_in_the_pool():
    from django.core.cache import cache
    from redis.exceptions import TimeoutError as RedisTimeoutError

    from crm_site.cache import breaker

    client = cache._cache
    pool = client._get_connection_pool(False)
    cache.set("read-a", 1)
    assert cache.get("read-a") == 1
    connection = pool.get_connection()
    pool.release(connection)
    original = type(connection).read_response

    def times_out(self, *args, **kwargs):
        raise RedisTimeoutError("Timeout reading from socket")

    type(connection).read_response = times_out
    try:
        assert cache.get("read-a", "missed") == "missed"  # the breaker's miss
    finally:
        type(connection).read_response = original
    # The connection that timed out was closed before it went back to the pool.
    assert connection._sock is None
    breaker.reset(cache._location)
    assert cache.get("read-a") == 1
