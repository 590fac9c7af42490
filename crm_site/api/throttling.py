"""Each key's rate limit (``ApiKey.rate_per_minute``), counted in Redis.

A fixed one-minute window per key, counted with an atomic INCR (DRF's stock
SimpleRateThrottle reads and rewrites a list of timestamps, which loses counts
under concurrency and grows with the rate). Over the limit the call gets a 429
problem with ``Retry-After`` (the seconds left in the window).

The same round trip to Redis notes the key's last use (crm_site.api.keys saves it
to the row each minute): one pipelined round trip per call for both. With Redis
down neither happens and the API keeps answering (crm_site.cache's breaker).
"""

from __future__ import annotations

import logging
import time

from django.core.cache import cache
from redis.exceptions import RedisError
from rest_framework.throttling import BaseThrottle

from crm_site.api.keys import LAST_USE_KEEP, used_marker

logger = logging.getLogger(__name__)

WINDOW = 60


def _count_and_note_use(key_pk: int, window: int, now: float) -> int | None:
    """INCR the window's counter (expiring with it) and note the use; the count,
    or None when Redis cannot be reached."""
    if not getattr(cache, "available", lambda: True)():
        return None
    counter = cache.make_and_validate_key(f"api-rate:{key_pk}:{window}")
    marker = cache.make_and_validate_key(used_marker(key_pk))
    try:
        client = cache._cache.get_client(counter, write=True)
        pipe = client.pipeline(transaction=False)
        pipe.incr(counter)
        pipe.expire(counter, WINDOW + 5)
        # An int: Django's Redis serializer reads it back without unpickling.
        pipe.set(marker, int(now), ex=LAST_USE_KEEP)
        count, _expiry, _set = pipe.execute()
    except (RedisError, OSError) as exc:
        logger.warning("API rate limit not counted (Redis): %s", exc)
        return None
    return int(count)


class KeyRateThrottle(BaseThrottle):
    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request, view) -> bool:
        key = getattr(request, "auth", None)
        if key is None or not hasattr(key, "rate_per_minute"):
            return True
        now = time.time()
        window = int(now // WINDOW)
        count = _count_and_note_use(key.pk, window, now)
        if count is None or count <= key.rate_per_minute:
            return True
        self._wait = (window + 1) * WINDOW - now
        return False

    def wait(self) -> float | None:
        return self._wait
