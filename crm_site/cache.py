"""The cache backend: Redis, but a Redis outage makes the cache miss rather than fail
the request (sessions fall back to the database, cached figures are recomputed).

Two things keep a page fast while Redis is down or hangs (SIGSTOP, a dead network
path: connections are accepted, nothing answers):

- short socket timeouts and no retries (settings.CACHES["default"]["OPTIONS"]), so
  one call waits at most a fraction of a second;
- a circuit breaker shared by every thread of the process: after a failed call the
  cache is treated as down for ``retry_after`` seconds and answers at once (a miss, a
  skipped write) without touching the network. Then one call tries Redis again.
  A page makes a dozen cache calls; without the breaker each would wait its timeout.
"""

from __future__ import annotations

import functools
import logging
import threading
import time

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

_OUTAGE = (RedisConnectionError, RedisTimeoutError)

# Seconds the cache is skipped after a failure (per process, per Redis location).
DEFAULT_RETRY_AFTER = 5.0

# A key read ahead and not found (ResilientRedisCache.get_many_ahead).
_ABSENT = object()


class CacheUnavailable(ValueError):
    """incr() while Redis is down. A ValueError, as for a missing key (Django's
    contract), so callers that recreate a missing counter keep working; callers that
    count something that matters (a rate limit) catch this and count elsewhere."""


class _Breaker:
    """Open (skip Redis) until a point in time; shared by all threads of a process."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def is_open(self, location: str) -> bool:
        until = self._until.get(location)
        return until is not None and time.monotonic() < until

    def trip(self, location: str, seconds: float) -> bool:
        """Open the breaker; True when it was closed (log the outage once)."""
        with self._lock:
            was_closed = not self.is_open(location)
            self._until[location] = time.monotonic() + seconds
            return was_closed

    def reset(self, location: str) -> None:
        if location in self._until:
            with self._lock:
                self._until.pop(location, None)


breaker = _Breaker()


def _tolerant(operation: str, fallback):
    method = getattr(RedisCache, operation)

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if breaker.is_open(self._location):
            return fallback(*args, **kwargs)
        try:
            result = method(self, *args, **kwargs)
        except _OUTAGE as exc:
            if breaker.trip(self._location, self._retry_after):
                logger.warning(
                    "cache unavailable (%s): %s; skipping it for %ss",
                    operation,
                    exc,
                    self._retry_after,
                )
            return fallback(*args, **kwargs)
        breaker.reset(self._location)
        return result

    return wrapper


def _incr_unavailable(*args, **kwargs):
    raise CacheUnavailable("the cache is unavailable")


class _ReusedClient(RedisCacheClient):
    """Django's Redis cache client, with one redis-py client per connection pool.

    Django builds a new ``redis.Redis`` for every cache call; its constructor costs
    about 0.15 ms of CPU, and every page makes at least two calls (the session, the
    permissions). A ``redis.Redis`` is a thin, thread-safe handle on its pool, so one
    per pool serves every call.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client

    # The reads every page makes (the session, the user, cached pieces and totals),
    # sent on a pooled connection directly. redis-py's client wraps each command in
    # its retry policy (none here: settings) and its metrics hooks, ~35 µs of a
    # ~125 µs read; a page makes about eight.

    def _read(self, *command):
        pool = self._get_connection_pool(False)
        connection = pool.get_connection()
        try:
            connection.send_command(*command)
            return connection.read_response()
        except BaseException:
            # Whatever was half sent or half read must not reach the next caller.
            connection.disconnect()
            raise
        finally:
            pool.release(connection)

    def get(self, key, default):
        value = self._read("GET", key)
        return default if value is None else self._serializer.loads(value)

    def get_many(self, keys):
        if not keys:
            return {}
        values = self._read("MGET", *keys)
        return {
            key: self._serializer.loads(value)
            for key, value in zip(keys, values, strict=True)
            if value is not None
        }


class ResilientRedisCache(RedisCache):
    """RedisCache whose reads miss and whose writes are skipped while Redis is down.

    OPTIONS may hold ``retry_after`` (seconds the cache is skipped after a failure);
    the others go to redis-py as for Django's RedisCache.
    """

    def __init__(self, server, params):
        options = dict(params.get("OPTIONS") or {})
        self._retry_after = float(options.pop("retry_after", DEFAULT_RETRY_AFTER))
        super().__init__(server, {**params, "OPTIONS": options})
        self._class = _ReusedClient
        self._location = server if isinstance(server, str) else ",".join(server)

    def available(self) -> bool:
        """False while the breaker is open (Redis failed a moment ago)."""
        return not breaker.is_open(self._location)

    def set_through(self, key, value, timeout=DEFAULT_TIMEOUT) -> bool:
        """set(), tried even while the breaker is open: for a write that must not be
        skipped because another call failed a moment ago (crm_site.auth_backends'
        version bump). False when Redis did not take it."""
        self._ahead = None
        try:
            RedisCache.set(self, key, value, timeout)
        except _OUTAGE as exc:
            if breaker.trip(self._location, self._retry_after):
                logger.warning(
                    "cache unavailable (set_through): %s; skipping it for %ss",
                    exc,
                    self._retry_after,
                )
            return False
        breaker.reset(self._location)
        return True

    def validate_key(self, key: str) -> None:
        """No check: Redis takes any key. Django's warns of keys memcached would
        refuse (over 250 characters, spaces or control characters), a regular
        expression a key on every cache call."""

    # Reading ahead. A cache object serves one thread, or one request's async context
    # (django.core.cache.caches), so what it read ahead is this request's; Django
    # closes the caches when a request finishes, and close() forgets it. The keys are
    # the user's own: at worst another request of the same user, in the same
    # context, takes a value read moments before.
    _ahead: dict | None = None

    def get_many_ahead(self, keys: list[str], ahead: list[str]) -> dict:
        """get_many(keys), with ``ahead`` read in the same round trip: the next get()
        of each of those (found or not) is answered from what was read, once, unless
        something is written to the cache in between. For the keys every page reads
        after a first read it cannot do without (crm_site.auth_backends: the user's
        bell and extension, read with the user)."""
        found = self.get_many([*keys, *ahead])
        self._ahead = {key: found.get(key, _ABSENT) for key in ahead}
        return {key: found[key] for key in keys if key in found}

    def close(self, **kwargs) -> None:
        self._ahead = None
        super().close(**kwargs)


# Every public method of RedisCache that talks to Redis; get_or_set, decr,
# incr_version, get/set_many's callers and the async variants build on these.
for _name, _fallback in {
    "get": lambda key, default=None, version=None: default,
    "get_many": lambda keys, version=None: {},
    "has_key": lambda key, version=None: False,
    "set": lambda *args, **kwargs: None,
    "set_many": lambda data, *args, **kwargs: list(data),
    "add": lambda *args, **kwargs: False,
    "touch": lambda *args, **kwargs: False,
    "delete": lambda *args, **kwargs: False,
    "delete_many": lambda *args, **kwargs: None,
    "incr": _incr_unavailable,
    "clear": lambda *args, **kwargs: False,
}.items():
    setattr(ResilientRedisCache, _name, _tolerant(_name, _fallback))


def _reading_ahead(get):
    @functools.wraps(get)
    def wrapper(self, key, default=None, version=None):
        ahead = self._ahead
        if ahead and version is None and key in ahead:
            value = ahead.pop(key)
            return default if value is _ABSENT else value
        return get(self, key, default, version)

    return wrapper


def _forgetting_ahead(write):
    @functools.wraps(write)
    def wrapper(self, *args, **kwargs):
        self._ahead = None
        return write(self, *args, **kwargs)

    return wrapper


ResilientRedisCache.get = _reading_ahead(ResilientRedisCache.get)
for _name in (
    "set",
    "set_many",
    "add",
    "touch",
    "delete",
    "delete_many",
    "incr",
    "clear",
):
    setattr(
        ResilientRedisCache,
        _name,
        _forgetting_ahead(getattr(ResilientRedisCache, _name)),
    )
