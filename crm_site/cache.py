"""The cache backend: Redis, but a Redis outage makes the cache miss rather than fail
the request (sessions fall back to the database, cached figures are recomputed)."""

from __future__ import annotations

import functools
import logging

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

_OUTAGE = (RedisConnectionError, RedisTimeoutError)


def _tolerant(method, fallback):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except _OUTAGE as exc:
            logger.warning("cache unavailable (%s): %s", method.__name__, exc)
            return fallback(*args, **kwargs)

    return wrapper


class ResilientRedisCache(RedisCache):
    """RedisCache whose reads miss and whose writes are skipped while Redis is down."""


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
}.items():
    setattr(
        ResilientRedisCache,
        _name,
        _tolerant(getattr(RedisCache, _name), _fallback),
    )
