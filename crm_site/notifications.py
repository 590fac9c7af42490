"""In-app notifications: a row per user and message, linked to what it is about."""

from __future__ import annotations

from django.db import models

from crm_site.models import Notification, User


def notify(
    *, user: User, message: str, target: models.Model | None = None, url: str = ""
) -> Notification:
    """Tell a user something. A row first; e-mail digests are built from these rows."""
    if target is not None and not url and hasattr(target, "get_absolute_url"):
        url = target.get_absolute_url()
    return Notification.objects.create(user=user, message=message[:300], url=url[:300])
