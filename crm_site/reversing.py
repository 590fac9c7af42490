"""reverse() for the URLs a page builds by the dozen, remembered per process.

Django's reverse() costs ~25 µs a call. The header reverses some twenty names on every
page, and a list row two or three (its page, its forms): a My day of 150 rows spent a
sixth of its time there. The URL of a name without arguments is remembered; the URL of
a name with one id is remembered with a stand-in id, then the real one is put in.
Both are keyed by script prefix and URL configuration, like reverse() itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache

from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse

# An id no row has: it marks where the real id goes in a reversed URL.
_STAND_IN = 987654321987654321


@lru_cache(maxsize=512)
def _reversed(url_name: str, prefix: str, urlconf: str | None) -> str:
    return reverse(url_name, urlconf=urlconf)


@lru_cache(maxsize=512)
def _around_id(url_name: str, prefix: str, urlconf: str | None) -> tuple[str, str]:
    url = reverse(url_name, args=[_STAND_IN], urlconf=urlconf)
    head, found, tail = url.partition(str(_STAND_IN))
    if not found or str(_STAND_IN) in tail:
        raise ValueError(f"{url_name} does not take one id")
    return head, tail


def _key() -> tuple[str, str | None]:
    return get_script_prefix(), get_urlconf(settings.ROOT_URLCONF)


def cached_reverse(url_name: str) -> str:
    """reverse(url_name) of a URL name without arguments."""
    return _reversed(url_name, *_key())


def cached_reverse_all(url_names: Iterable[str]) -> list[str]:
    """cached_reverse of each name, the prefix and URL configuration read once (each
    read goes through asgiref's context-local storage: the header's two dozen links
    spent more there than in the remembered URLs)."""
    key = _key()
    return [_reversed(url_name, *key) for url_name in url_names]


def reverse_id(url_name: str, pk: int) -> str:
    """reverse(url_name, args=[pk]) of a URL name whose only argument is an id."""
    head, tail = _around_id(url_name, *_key())
    return f"{head}{int(pk)}{tail}"


def reverse_ids(url_name: str) -> Callable[[int], str]:
    """reverse_id(url_name, pk) as a function of the id, for a list's rows: the
    prefix and URL configuration read once, not once per row."""
    head, tail = _around_id(url_name, *_key())
    return lambda pk: f"{head}{int(pk)}{tail}"
