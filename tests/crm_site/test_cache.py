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


# Reading ahead (ResilientRedisCache.get_many_ahead) ------------------------------------


def _behind_the_caches_back(key, value):
    """Change a key in Redis without the cache object (as another process would)."""
    from django.core.cache import cache

    cache._cache.get_client(write=True).set(
        cache.make_key(key), cache._cache._serializer.dumps(value)
    )


def test_a_key_read_ahead_answers_the_next_get_once():
    from django.core.cache import cache

    cache.set_many({"ahead-user": "u", "ahead-bell": 3})
    cache.delete("ahead-none")
    assert cache.get_many_ahead(["ahead-user"], ["ahead-bell", "ahead-none"]) == {
        "ahead-user": "u"
    }
    _behind_the_caches_back("ahead-bell", 4)
    assert cache.get("ahead-bell") == 3  # as read ahead, no round trip
    assert cache.get("ahead-bell") == 4  # once only
    _behind_the_caches_back("ahead-none", "now there")
    assert cache.get("ahead-none", "default") == "default"  # read ahead: absent
    assert cache.get("ahead-none") == "now there"


@pytest.mark.parametrize(
    "write",
    [
        lambda cache: cache.set("ahead-other", 1),
        lambda cache: cache.delete("ahead-bell"),
        lambda cache: cache.add("ahead-other", 1),
        lambda cache: cache.set_many({"ahead-other": 1}),
        lambda cache: cache.delete_many(["ahead-other"]),
        lambda cache: cache.touch("ahead-bell"),
        lambda cache: cache.close(),  # the request is over
    ],
)
def test_a_write_or_the_requests_end_forgets_what_was_read_ahead(write):
    from django.core.cache import cache

    cache.set("ahead-bell", 3)
    cache.get_many_ahead([], ["ahead-bell"])
    write(cache)
    _behind_the_caches_back("ahead-bell", 5)
    assert cache.get("ahead-bell") == 5


@pytest.mark.django_db
def test_the_bell_and_the_extension_are_read_with_the_user(client, consultant):
    """One round trip for the user, its permissions, the bell's count and the
    telephony extension; what each page shows stays exact after a change."""
    from django.core.cache import cache

    from crm_site.models import Notification
    from customers.models import AgentExtension

    client.force_login(consultant)
    client.get("/customers/")  # caches the user, the count, the extension
    sent = []
    connection_class = type(cache._cache._get_connection_pool(False).get_connection())
    original = connection_class.send_command

    def counting(self, *args, **kwargs):
        sent.append([str(arg) for arg in args])
        return original(self, *args, **kwargs)

    connection_class.send_command = counting
    try:
        page = client.get("/customers/")
    finally:
        connection_class.send_command = original
    assert page.status_code == 200
    keys = [key for command in sent for key in command[1:]]
    user_read = next(c for c in sent if any("auth-user:" in k for k in c[1:]))
    assert any(f"unread:{consultant.pk}" in k for k in user_read[1:])
    assert any(f"telephony:extension:{consultant.pk}" in k for k in user_read[1:])
    assert sum(f"unread:{consultant.pk}" in k for k in keys) == 1
    assert sum(f"telephony:extension:{consultant.pk}" in k for k in keys) == 1

    Notification.objects.create(user=consultant, message="回访提醒", url="/")
    AgentExtension.objects.create(user=consultant, extension="8001")
    page = client.get("/customers/").content.decode()
    assert 'rounded-pill bg-danger">1</span>' in page
    assert 'data-extension="8001"' in page
