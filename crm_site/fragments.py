"""Cached pieces of pages that are the same for many requests: blank forms and choice
lists read from the database (the customer page's referral projects, a team's
consultants).

Every key carries versions, so nothing stale is ever shown:

- ``RELEASE``: the code that renders the piece. From ``DJANGO_RELEASE`` when the
  deployment sets it, else new at each process start (a deploy restarts the workers).
  Templates put it in their ``{% cache %}`` keys with the language.
- for choices, the version of each model they are read from, replaced whenever a row
  of it is saved or deleted (``track``, connected in the owning app's ready(); bulk
  ``update()`` calls send no signal, so entries also expire after ``TIMEOUT``).

The same shape as the cached permission sets (crm_site.auth_backends): the versions
and the entry are read in one round trip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from django.core.cache import cache
from django.db import models
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.utils.translation import get_language

RELEASE = os.environ.get("DJANGO_RELEASE") or uuid.uuid4().hex[:12]
TIMEOUT = 600


def _version_key(model: type[models.Model]) -> str:
    return f"fragment-version:{model._meta.label_lower}"


def bump(model: type[models.Model]) -> None:
    """Make every cached piece read from ``model`` stale."""
    cache.set(_version_key(model), uuid.uuid4().hex, None)


_TRACKED: set[str] = set()


def is_tracked(model: type[models.Model]) -> bool:
    return model._meta.label_lower in _TRACKED


def track(*tracked: type[models.Model]) -> None:
    """Bump a model's version whenever one of its rows (or, for an m2m through
    model, one of its links) changes."""
    for model in tracked:
        _TRACKED.add(model._meta.label_lower)
        uid = f"fragments-{model._meta.label_lower}"

        def changed(sender: Any, _model: type[models.Model] = model, **kwargs) -> None:
            bump(_model)

        post_save.connect(changed, sender=model, weak=False, dispatch_uid=uid)
        post_delete.connect(changed, sender=model, weak=False, dispatch_uid=uid)
        if model._meta.auto_created:
            m2m_changed.connect(changed, sender=model, weak=False, dispatch_uid=uid)


def cached(
    name: str,
    build: Callable[[], Any],
    *,
    depends_on: Sequence[type[models.Model]],
    timeout: int = TIMEOUT,
    per_language: bool = True,
) -> Any:
    """``build()`` once per language and version of ``depends_on``; picklable values
    only (ids and names, not model instances with lazy relations)."""
    key = f"fragment:{name}:{RELEASE}"
    if per_language:
        key = f"{key}:{get_language()}"
    version_keys = [_version_key(model) for model in depends_on]
    found = cache.get_many([key, *version_keys])
    versions = tuple(found.get(k) for k in version_keys)
    entry = found.get(key)
    if entry is not None and entry[0] == versions:
        return entry[1]
    value = build()
    cache.set(key, (versions, value), timeout)
    return value
