"""In-app notifications: a row per user and message, linked to what it is about."""

from __future__ import annotations

from django.db import models

from crm_site import events
from crm_site.models import Notification, User


def _may_open(user: User, target: models.Model) -> bool:
    """Link only to pages the user may open: a channel partner's broker is told about
    the customers they registered but has no customer pages."""
    if not hasattr(target, "get_absolute_url"):
        return False
    meta = target._meta
    if meta.label_lower == "customers.customer":
        return user.has_perm("customers.view_customer")
    return True


def notify(
    *,
    user: User,
    entry: events.Entry | None = None,
    message: str = "",
    target: models.Model | None = None,
    url: str = "",
) -> Notification:
    """Tell a user something. A row first; e-mail digests are built from these rows.

    What the system says is an ``entry`` (crm_site.events), shown in the reader's
    language; ``message`` is for words a person wrote.
    """
    if entry is None and not message:
        raise ValueError("notify needs an event entry or a message")
    if target is not None and not url and _may_open(user, target):
        url = target.get_absolute_url()
    return Notification.objects.create(
        user=user,
        event=entry.code if entry is not None else "",
        params=entry.params if entry is not None else {},
        message=message[:300],
        url=url[:300],
    )
