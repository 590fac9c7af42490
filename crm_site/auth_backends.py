"""Authentication backend: Django's ModelBackend with the user and permissions cached.

Every page loads the signed-in user and checks permissions; ModelBackend reads them with
three queries per request. Here the user row, its permission set and its group names
come from the cache in one round trip. Any change to who is in which group, what a
group may do, a user's own permissions or a user row (deactivation, a new password)
bumps a version that invalidates every cached entry at once; entries also expire after
five minutes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
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
        found = _read_user_keys(pk)
        version = found.get(VERSION_KEY)
        row = found.get(_user_key(pk))
        if row is not None and row[0] == version:
            user = row[1]
        else:
            user = super().get_user(pk)
            if user is None:
                return None
            cache.set(_user_key(pk), (version, user), TIMEOUT)
        perms = found.get(_key(pk))
        if perms is not None and perms[0] == version:
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
    found = cache.get_many([VERSION_KEY, key])
    version = found.get(VERSION_KEY)
    cached = found.get(key)
    if cached is not None and cached[0] == version:
        user._perm_cache, user._group_names = cached[1], cached[2]
        return
    perms = model_backend().get_all_permissions(user) if user.is_active else set()
    names = set(user.groups.values_list("name", flat=True))
    user._perm_cache, user._group_names = perms, names
    cache.set(key, (version, perms, names), TIMEOUT)


def group_names(user) -> set[str]:
    """The names of the user's groups (their roles), cached with the permissions."""
    if not hasattr(user, "_group_names"):
        _load(user, lambda: ModelBackend())
    return user._group_names


def invalidate(**kwargs) -> None:
    cache.set(VERSION_KEY, uuid.uuid4().hex, None)


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
