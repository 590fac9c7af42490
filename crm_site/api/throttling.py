"""Each key's rate limit (``ApiKey.rate_per_minute``), counted in Redis.

A fixed one-minute window per key: one atomic INCR per call (DRF's stock
SimpleRateThrottle reads and rewrites a list of timestamps, which loses counts
under concurrency and grows with the rate). Over the limit the call gets a 429
problem with ``Retry-After`` (the seconds left in the window). With Redis down the
limit is not enforced: the API keeps answering (crm_site.cache's breaker)."""

from __future__ import annotations

import time

from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from crm_site.cache import CacheUnavailable

WINDOW = 60


class KeyRateThrottle(BaseThrottle):
    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request, view) -> bool:
        key = getattr(request, "auth", None)
        limit = getattr(key, "rate_per_minute", None)
        if not limit:
            return True
        now = time.time()
        window = int(now // WINDOW)
        counter = f"api-rate:{key.pk}:{window}"
        try:
            # add() starts the window's counter (expiring with it), incr() counts.
            cache.add(counter, 0, WINDOW + 5)
            count = cache.incr(counter)
        except (CacheUnavailable, ValueError):
            return True
        if count > limit:
            self._wait = (window + 1) * WINDOW - now
            return False
        return True

    def wait(self) -> float | None:
        return self._wait
