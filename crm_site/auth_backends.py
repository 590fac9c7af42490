"""Authentication backend: Django's ModelBackend with the user and permissions cached.

Every page loads the signed-in user and checks permissions; ModelBackend reads them with
three queries per request. Here the user row, its permission set and its group names
come from the cache in one round trip. Any change to who is in which group, what a
group may do, a user's own permissions or a user row (deactivation, a new password)
bumps a version that invalidates every cached entry at once; entries also expire after
five minutes.

The version is bumped when the change is saved and again when it is committed: a
request in between reads the new version with the old rows and caches them under it.
A bump is never skipped because Redis failed a moment earlier (the circuit breaker of
crm_site.cache): it is tried anyway, and one Redis did not take is tried again before
this process reads a cached user. Nothing is cached under a version neither read
nor started by the same call.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

VERSION_KEY = "perms-version"
TIMEOUT = 300


def _key(user_pk: int) -> str:
    return f"perms:{user_pk}"


def _user_key(user_pk: int) -> str:
    return f"auth-user:{user_pk}"


# Keys of the user's that every page reads from the cache once the user is known (the
# bell's count, the telephony extension): read in the user's round trip instead of one
# each (crm_site.cache.ResilientRedisCache.get_many_ahead; ~65 µs of CPU each).
_READ_WITH_USER: dict[str, Callable[[int], str]] = {}


def read_with_user(name: str, key_of: Callable[[int], str]) -> None:
    """Read the cache key ``key_of(user.pk)`` with the signed-in user on every
    request; the first cache.get() of it in that request takes the value read."""
    _READ_WITH_USER[name] = key_of


def _read_user_keys(pk: int) -> dict:
    keys = [VERSION_KEY, _user_key(pk), _key(pk)]
    ahead = [key_of(pk) for key_of in _READ_WITH_USER.values()]
    read_ahead = getattr(cache, "get_many_ahead", None)
    if read_ahead is None or not ahead:  # another cache backend
        return cache.get_many(keys)
    return read_ahead(keys, ahead)


class CachedPermissionBackend(ModelBackend):
    def get_user(self, user_id):
        try:
            pk = int(user_id)
        except (TypeError, ValueError):
            return None
        _bump_if_pending()
        found = _read_user_keys(pk)
        version = found.get(VERSION_KEY)
        row = found.get(_user_key(pk))
        if version is not None and row is not None and row[0] == version:
            user = row[1]
        else:
            user = super().get_user(pk)
            if user is None:
                return None
            _cache_under(version, _user_key(pk), user)
        perms = found.get(_key(pk))
        if version is not None and perms is not None and perms[0] == version:
            user._perm_cache, user._group_names = perms[1], perms[2]
        return user if self.user_can_authenticate(user) else None

    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            _load(user_obj, lambda: super(CachedPermissionBackend, self))
        return user_obj._perm_cache


def _load(user, model_backend) -> None:
    """Set the user's permission set and group names, from the cache when current."""
    key = _key(user.pk)
    _bump_if_pending()
    found = cache.get_many([VERSION_KEY, key])
    version = found.get(VERSION_KEY)
    cached = found.get(key)
    if version is not None and cached is not None and cached[0] == version:
        user._perm_cache, user._group_names = cached[1], cached[2]
        return
    perms = model_backend().get_all_permissions(user) if user.is_active else set()
    names = set(user.groups.values_list("name", flat=True))
    user._perm_cache, user._group_names = perms, names
    _cache_under(version, key, perms, names)


def _cache_under(version: str | None, key: str, *items) -> None:
    """Cache ``(version, *items)`` under the version read. None read (Redis did not
    answer, or the version was lost): a version is started, and the entry cached
    under it only if this call started it, so no entry outlives a bump it missed."""
    if version is None:
        version = uuid.uuid4().hex
        if not cache.add(VERSION_KEY, version, None):
            return
    cache.set(key, (version, *items), TIMEOUT)


def group_names(user) -> set[str]:
    """The names of the user's groups (their roles), cached with the permissions."""
    if not hasattr(user, "_group_names"):
        _load(user, lambda: ModelBackend())
    return user._group_names


# A bump Redis did not take (it was down): tried again before this process next reads
# a cached user, so entries cached before the change cannot come back with Redis.
_bump_pending = False


def _bump() -> None:
    global _bump_pending
    version = uuid.uuid4().hex
    set_through = getattr(cache, "set_through", None)
    if set_through is None:  # another cache backend
        cache.set(VERSION_KEY, version, None)
        return
    _bump_pending = not set_through(VERSION_KEY, version, None)


def _bump_if_pending() -> None:
    if _bump_pending and cache.available():
        _bump()


def invalidate(using: str | None = None, **kwargs) -> None:
    _bump()
    # A request between the change and its commit reads the new version but the old
    # rows, and caches them under it: bumped again once the change is visible.
    if transaction.get_connection(using).in_atomic_block:
        transaction.on_commit(_bump, using=using)


def connect_signals() -> None:
    from crm_site.models import User

    for through in (
        User.groups.through,
        User.user_permissions.through,
        Group.permissions.through,
    ):
        m2m_changed.connect(invalidate, sender=through, dispatch_uid=f"perms-{through}")
    for model in (User, Group, Permission):
        post_save.connect(invalidate, sender=model, dispatch_uid=f"perms-save-{model}")
        post_delete.connect(invalidate, sender=model, dispatch_uid=f"perms-del-{model}")
