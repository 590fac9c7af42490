"""Webhook use cases: emit, subscribe, pause and resume, rotate, replay."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm_site import events, fragments, outbox
from crm_site.api.models import ApiKey
from crm_site.audit import audit_record
from crm_site.models import AuditEntry, User
from crm_site.webhooks import check_payload, event_type, event_types, targets
from crm_site.webhooks.delivery import DELIVERIES, PAUSE_NOTICES
from crm_site.webhooks.models import (
    WebhookDelivery,
    WebhookEvent,
    WebhookPauseNotice,
    WebhookSubscription,
    new_secret,
)

PAUSED = events.register(
    "crm_site.webhook_paused",
    _(
        "Webhooks to %(url)s are paused after %(count)s failed deliveries in a row; "
        "resume them once the receiver works."
    ),
    url=events.Text(),
    count=events.Number(),
)


# Emit ------------------------------------------------------------------------------


def _subscribers() -> dict[str, list[int]]:
    """Event type → ids of the subscriptions that want it (active or paused: a paused
    one keeps its deliveries waiting). A key's user must be allowed to see what the
    event is about; a revoked key or one without the webhooks scope gets nothing."""
    wanted: dict[str, list[int]] = {}
    subscriptions = WebhookSubscription.objects.filter(
        api_key__in=ApiKey.objects.usable(), api_key__scopes__contains=["webhooks"]
    ).select_related("api_key__acts_as")
    for subscription in subscriptions:
        user = subscription.api_key.acts_as
        for name in subscription.events:
            try:
                permission = event_type(name).permission
            except KeyError:
                continue
            if user.has_perm(permission):
                wanted.setdefault(name, []).append(subscription.pk)
    return wanted


def subscribers(event: str) -> list[int]:
    return fragments.cached(
        "webhook-subscribers",
        _subscribers,
        # A key's user who loses a role stops being offered its events: their groups
        # and the groups' permissions count too. Not the user rows (every sign-in
        # saves one): a deactivated key user's deliveries are skipped when composed.
        depends_on=[
            WebhookSubscription,
            ApiKey,
            User.groups.through,
            User.user_permissions.through,
            Group.permissions.through,
        ],
        per_language=False,
        # Kept until a subscription, a key or a user's rights change (their
        # versions), so the services' writes do not pay a query when an entry
        # merely expired.
        timeout=None,
    ).get(event, [])


def _changed() -> None:
    # Saving bumps the version at once (fragments.track); a reader in between may have
    # cached the old set under it, so it is bumped again when the change is visible.
    fragments.bump(WebhookSubscription)
    transaction.on_commit(lambda: fragments.bump(WebhookSubscription))


def _resource_url(event: str, data: dict[str, Any]) -> str | None:
    resource = event_type(event).resource
    if resource is None or data.get(resource[1]) is None:
        return None
    path, key = resource
    return f"{settings.PUBLIC_BASE_URL}/api/v1/{path.format(data[key])}"


# More deliveries than this at once (an import) are left to one sweep, which queues
# them in order, instead of a task each published at commit.
QUEUE_AT_ONCE = 200


def _with_url(event: str, data: dict[str, Any]) -> dict[str, Any]:
    url = _resource_url(event, data)
    return {**data, "url": url} if url else dict(data)


def _queue(pks: list[int]) -> None:
    from crm_site import tasks

    if len(pks) > QUEUE_AT_ONCE:
        tasks.webhooks_send_pending.delay_on_commit()
        return
    for pk in pks:
        tasks.webhook_deliver.delay_on_commit(pk)


def event_emit(event: str, *, data: dict[str, Any]) -> WebhookEvent | None:
    """Write the event and its deliveries (two INSERTs), queued once committed;
    nothing at all when nobody subscribes."""
    event_type(event)  # an unknown event is a bug: KeyError
    check_payload(event, data)
    wanted = subscribers(event)
    if not wanted:
        return None
    row = WebhookEvent.objects.create(type=event, data=_with_url(event, data))
    deliveries = WebhookDelivery.objects.bulk_create(
        # The channel is known now: the send need not record it.
        WebhookDelivery(event=row, subscription_id=pk, channel=outbox.Channel.WEBHOOK)
        for pk in wanted
    )
    _queue([d.pk for d in deliveries])
    return row


def event_emit_many(event: str, *, data: list[dict[str, Any]]) -> int:
    """event_emit for many objects: two INSERTs whatever the count; the events written."""
    event_type(event)
    for item in data:
        check_payload(event, item)
    wanted = subscribers(event) if data else []
    if not wanted:
        return 0
    rows = WebhookEvent.objects.bulk_create(
        WebhookEvent(type=event, data=_with_url(event, item)) for item in data
    )
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(event=row, subscription_id=pk, channel=outbox.Channel.WEBHOOK)
        for row in rows
        for pk in wanted
    )
    _queue([d.pk for d in deliveries])
    return len(rows)


# Subscriptions ---------------------------------------------------------------------


def _check(*, api_key: ApiKey, url: str, events: list[str]) -> None:
    """The rules whoever subscribes (the admin's form checks them first)."""
    errors: dict[str, list[str]] = {}
    if "webhooks" not in api_key.scopes or api_key.revoked_at is not None:
        errors["api_key"] = [str(_("The key needs the scope “Receive webhooks”."))]
    try:
        targets.check_url(url)
    except targets.TargetRefused as exc:
        errors["url"] = [str(exc)]
    known = {e.name for e in event_types()}
    unknown = [name for name in events if name not in known]
    if unknown or not events:
        errors["events"] = [str(_("Choose the events to receive."))]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def subscription_create(
    *, actor: User, api_key: ApiKey, url: str, events: list[str], description: str = ""
) -> tuple[WebhookSubscription, str]:
    """A new subscription and its signing secret (returned: shown once)."""
    _check(api_key=api_key, url=url, events=events)
    subscription = WebhookSubscription.objects.create(
        api_key=api_key, url=url, events=sorted(events), description=description
    )
    audit_record(
        actor=actor,
        instance=subscription,
        action=AuditEntry.Action.CREATE,
        changes={"url": {"old": "", "new": url}, "events": {"old": "", "new": events}},
    )
    _changed()
    return subscription, subscription.secret


@transaction.atomic
def secret_rotate(*, actor: User, subscription: WebhookSubscription) -> str:
    """A new signing secret, in force at once; returned (shown once). Deliveries
    carry a signature with the old one too for WEBHOOK_SECRET_OVERLAP_HOURS."""
    secret = new_secret()
    now = timezone.now()
    locked = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        secret=secret,
        secret_rotated_at=now,
        previous_secret=locked.secret,
        previous_secret_until=now
        + timedelta(hours=settings.WEBHOOK_SECRET_OVERLAP_HOURS),
    )
    audit_record(
        actor=actor,
        instance=subscription,
        action=AuditEntry.Action.UPDATE,
        changes={"secret": {"old": "…", "new": "(rotated)"}},
    )
    subscription.secret = secret
    return secret


def _set_status(
    subscription_id: int, *, new: str, reason: str = "", actor: User | None
) -> WebhookSubscription | None:
    locked = WebhookSubscription.objects.select_for_update().get(pk=subscription_id)
    if locked.status == new:
        return None
    old = locked.status
    locked.status = new
    if new == WebhookSubscription.Status.PAUSED:
        locked.paused_at = timezone.now()
        locked.paused_reason = reason[:200]
    else:
        locked.paused_at = None
        locked.paused_reason = ""
        locked.consecutive_failures = 0
        locked.failing_since = None
    locked.save(
        update_fields=[
            "status",
            "paused_at",
            "paused_reason",
            "consecutive_failures",
            "failing_since",
        ]
    )
    audit_record(
        actor=actor,
        instance=locked,
        action=AuditEntry.Action.UPDATE,
        changes={"status": {"old": old, "new": new}},
    )
    _changed()
    return locked


@transaction.atomic
def subscription_pause(
    *, actor: User, subscription: WebhookSubscription, reason: str = ""
) -> bool:
    return (
        _set_status(
            subscription.pk,
            new=WebhookSubscription.Status.PAUSED,
            reason=reason or str(_("Paused by an administrator.")),
            actor=actor,
        )
        is not None
    )


@transaction.atomic
def subscription_resume(*, actor: User, subscription: WebhookSubscription) -> int:
    """Active again: the deliveries that waited are due now and queued; how many."""
    if (
        _set_status(subscription.pk, new=WebhookSubscription.Status.ACTIVE, actor=actor)
        is None
    ):
        return 0
    waiting = WebhookDelivery.objects.filter(
        subscription_id=subscription.pk, status=outbox.Status.PENDING
    )
    count = waiting.update(next_attempt_at=timezone.now())
    from crm_site import tasks

    tasks.webhooks_send_pending.delay_on_commit()
    return count


def _administrators() -> list[User]:
    has = Q(groups__permissions__codename="change_webhooksubscription") | Q(
        user_permissions__codename="change_webhooksubscription"
    )
    return list(
        User.objects.filter(Q(is_superuser=True) | has, is_active=True).distinct()
    )


def subscription_failed(*, subscription_id: int, now: datetime) -> bool:
    """After a refused delivery: pause the subscription when it has failed too often
    or for too long, and tell the administrators, once."""
    limit = settings.WEBHOOK_PAUSE_AFTER_FAILURES
    since = now - timedelta(hours=settings.WEBHOOK_PAUSE_AFTER_HOURS)
    due = WebhookSubscription.objects.filter(
        Q(consecutive_failures__gte=limit) | Q(failing_since__lt=since),
        pk=subscription_id,
        status=WebhookSubscription.Status.ACTIVE,
    )
    if not due.exists():
        return False
    with transaction.atomic():
        count = WebhookSubscription.objects.get(pk=subscription_id).consecutive_failures
        reason = str(_("%(count)s deliveries in a row failed.") % {"count": count})
        paused = _set_status(
            subscription_id,
            new=WebhookSubscription.Status.PAUSED,
            reason=reason,
            actor=None,
        )
        if paused is None:
            return False
        from crm_site.notifications import notify

        url = reverse("admin:crm_site_webhooksubscription_change", args=[paused.pk])
        administrators = _administrators()
        for user in administrators:
            notify(user=user, entry=PAUSED(url=paused.url[:200], count=count), url=url)
        # And an e-mail each, through the outbox (a row now, sent after commit).
        notices = WebhookPauseNotice.objects.bulk_create(
            WebhookPauseNotice(subscription=paused, user=user)
            for user in administrators
        )
        from crm_site import tasks

        for notice in notices:
            tasks.webhook_pause_notice_send.delay_on_commit(notice.pk)
    return True


# Deliveries ------------------------------------------------------------------------


@transaction.atomic
def delivery_replay(*, actor: User, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send an event again: a new delivery with the same event (the same webhook-id,
    so a receiver that has it can tell)."""
    replay = WebhookDelivery.objects.create(
        event_id=delivery.event_id,
        subscription_id=delivery.subscription_id,
        replay_of=delivery,
        channel=outbox.Channel.WEBHOOK,
    )
    audit_record(
        actor=actor,
        instance=replay,
        action=AuditEntry.Action.CREATE,
        changes={"replay_of": {"old": "", "new": delivery.pk}},
    )
    _queue([replay.pk])
    return replay


def delivery_send(*, delivery_id: int) -> bool:
    """The task body: claim the delivery (if due, its subscription active, and free)
    and POST it; a second run, or a concurrent one, sends nothing."""
    return outbox.send_one(DELIVERIES, delivery_id)


def pause_notice_send(*, notice_id: int) -> bool:
    return outbox.send_one(PAUSE_NOTICES, notice_id)


def deliveries_pending(*, now: datetime | None = None) -> list[int]:
    """For the sweeper: settle deliveries a dead worker left "sending" (sent again,
    same webhook-id), then the due ones whose task was lost or whose retry is due."""
    outbox.recover_stale(DELIVERIES, now=now)
    # The administrators' pause e-mails are few: sent here, by the same outbox.
    outbox.recover_stale(PAUSE_NOTICES, now=now)
    outbox.send_due(PAUSE_NOTICES, now=now)
    return outbox.due_ids(DELIVERIES, now=now)


@transaction.atomic
def subscription_update(
    *, actor: User, subscription: WebhookSubscription, **fields: Any
) -> WebhookSubscription:
    """Change the URL, events or description; what changed is audited."""
    locked = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
    _check(
        api_key=locked.api_key,
        url=fields.get("url", locked.url),
        events=fields.get("events", locked.events),
    )
    changes = {}
    for name, value in fields.items():
        old = getattr(locked, name)
        if name == "events":
            value = sorted(value)
        if old != value:
            changes[name] = {"old": old, "new": value}
            setattr(locked, name, value)
    if changes:
        locked.save(update_fields=list(changes))
        audit_record(
            actor=actor,
            instance=locked,
            action=AuditEntry.Action.UPDATE,
            changes=changes,
        )
        _changed()
    return locked
