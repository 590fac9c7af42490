"""In-app notifications: a row per user and message, linked to what it is about."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.cache import cache
from django.db import models, transaction
from django.db.models.signals import post_delete, post_save

from crm_site import auth_backends, events
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


# The customers a notification names, by id, kept in its params (not shown): a
# personal-information request finds them there whether or not the notification
# links to the customer (crm_site.personal_data).
ABOUT_KEY = "_customer_ids"


def notify(
    *,
    user: User,
    entry: events.Entry | None = None,
    message: str = "",
    target: models.Model | None = None,
    url: str = "",
    about: Iterable[models.Model] = (),
) -> Notification:
    """Tell a user something. A row first; e-mail digests are built from these rows.

    What the system says is an ``entry`` (crm_site.events), shown in the reader's
    language; ``message`` is for words a person wrote. ``about``: the customers the
    words name besides ``target`` (a customer target counts itself), even where the
    reader gets no link.
    """
    if entry is None and not message:
        raise ValueError("notify needs an event entry or a message")
    if target is not None and not url and _may_open(user, target):
        url = target.get_absolute_url()
    params = dict(entry.params) if entry is not None else {}
    named = {
        customer.pk
        for customer in (*about, *([target] if target is not None else []))
        if customer._meta.label_lower == "customers.customer"
    }
    if named:
        params[ABOUT_KEY] = sorted(named)
    return Notification.objects.create(
        user=user,
        event=entry.code if entry is not None else "",
        params=params,
        message=message[:300],
        url=url[:300],
    )


# The bell's count of unread notifications is on every page. It is cached per user for
# UNREAD_TTL seconds and forgotten whenever one of the user's notifications is created,
# read or deleted, so the badge is exact after the user's own actions and at most
# UNREAD_TTL seconds behind someone else's in a race.
UNREAD_TTL = 30


def _unread_key(user_id: int) -> str:
    return f"unread:{user_id}"


def unread_count(user: User) -> int:
    """How many of the user's notifications are unread (cached; see UNREAD_TTL)."""
    key = _unread_key(user.pk)
    count = cache.get(key)
    if count is None:
        count = Notification.objects.filter(user=user, read_at__isnull=True).count()
        cache.set(key, count, UNREAD_TTL)
    return count


def forget_unread(user_id: int) -> None:
    """Drop the cached count now and again when the transaction commits (a page that
    recounted before the commit would otherwise cache the old figure)."""
    key = _unread_key(user_id)
    cache.delete(key)
    transaction.on_commit(lambda: cache.delete(key))


def _notification_changed(sender, instance: Notification, **kwargs) -> None:
    forget_unread(instance.user_id)


def _user_saved(sender, instance: User, created: bool = False, **kwargs) -> None:
    # A new user's id may have been used before (a test database created anew).
    if created:
        forget_unread(instance.pk)


def connect_signals() -> None:
    # The bell is on every page: its count is read with the user.
    auth_backends.read_with_user("unread", _unread_key)
    post_save.connect(_notification_changed, sender=Notification, dispatch_uid="unread")
    post_delete.connect(
        _notification_changed, sender=Notification, dispatch_uid="unread-del"
    )
    post_save.connect(_user_saved, sender=User, dispatch_uid="unread-user")
