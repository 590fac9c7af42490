"""How a webhook delivery leaves: a kind of the one outbox with its own channel.

The outbox (crm_site.outbox) claims the row, calls ``WebhookKind.deliver`` and
records the outcome; this module only says how to POST, sign and time it, how long
to wait after a refusal, what a crashed send means, and when to pause a subscription.

Signature (Standard Webhooks, https://www.standardwebhooks.com/):
``webhook-signature: v1,<base64 HMAC-SHA256(secret, "<webhook-id>.<webhook-timestamp>.<body>")>``
where the secret is the bytes after ``whsec_`` (base64-decoded) and the timestamp is
whole seconds since 1970. ``webhook-id`` is the event's id: the same on every retry
and replay, so a receiver de-duplicates by it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import http.client
import json
import logging
import socket
import ssl
import threading
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy

from crm_site import messaging, outbox
from crm_site.webhooks import event_type, targets
from crm_site.webhooks.models import (
    SECRET_PREFIX,
    WebhookDelivery,
    WebhookPauseNotice,
    WebhookSubscription,
)

logger = logging.getLogger(__name__)

# Waits after the 1st, 2nd … refused attempt: about 24 hours in all, then it fails.
BACKOFF = [
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(hours=2),
    timedelta(hours=4),
    timedelta(hours=8),
    timedelta(hours=8),
]
EXCERPT = 200
# Attempts kept in a delivery's log (the newest).
LOG_KEPT = 20
USER_AGENT = "Anju-CRM-Webhooks/1"


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def body_of(row: WebhookDelivery) -> bytes:
    return json.dumps(
        row.event.payload(), separators=(",", ":"), ensure_ascii=False
    ).encode()


class _Pinned(http.client.HTTPConnection):
    """Connects to the address that was checked, not to what DNS says later.

    ``timeout`` bounds each socket operation; ``expire`` ends the exchange whatever
    it is waiting for (post's deadline for the whole of it)."""

    def __init__(self, ip: str, host: str, port: int, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._ip = ip
        self.expired = False

    def connect(self) -> None:
        self.sock = socket.create_connection((self._ip, self.port), self.timeout)
        self._refuse_if_expired()

    def _refuse_if_expired(self) -> None:
        # The deadline may pass while a socket is being made, before expire can
        # reach it: checked once it is in place.
        if self.expired:
            raise TimeoutError("deadline passed")

    def expire(self) -> None:
        self.expired = True
        sock = self.sock
        if sock is not None:
            # The socket's own shutdown, also under TLS: a read blocked in another
            # thread returns at once.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _PinnedTLS(_Pinned):
    def connect(self) -> None:
        super().connect()
        context = ssl.create_default_context()
        self.sock = context.wrap_socket(self.sock, server_hostname=self.host)
        self._refuse_if_expired()


def post(url: str, *, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
    """POST without following redirects; (status, start of the body).

    WEBHOOK_TIMEOUT_SECONDS bounds the whole exchange, not each read: a receiver
    that answers a byte at a time would otherwise hold the worker for hours."""
    scheme, host, port, path = targets.split(url)
    ip = targets.resolve(host, port)
    cls = _PinnedTLS if scheme == "https" else _Pinned
    seconds = settings.WEBHOOK_TIMEOUT_SECONDS
    conn = cls(str(ip), host, port, seconds)
    deadline = threading.Timer(seconds, conn.expire)
    deadline.daemon = True
    deadline.start()
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read(1024)
    except (OSError, http.client.HTTPException):
        if conn.expired:
            raise TimeoutError(f"no complete answer within {seconds:g} s") from None
        raise
    finally:
        deadline.cancel()
        conn.close()


def _may_see(user, event: str) -> bool:
    try:
        permission = event_type(event).permission
    except KeyError:  # an event type no longer offered
        return False
    return user.has_perm(permission)


class WebhookKind(outbox.OutboxKind):
    name = "crm_site.webhook"
    label = gettext_lazy("Webhook deliveries")
    model = WebhookDelivery
    max_attempts = len(BACKOFF) + 1
    # A delivery names a subscriber's URL (often with a token) and its replay reaches
    # an outside system: decided by those who may replay deliveries.
    reviewed_by = "crm_site.replay_webhookdelivery"

    @property
    def stale_after(self) -> timedelta:
        # A POST gives up after WEBHOOK_TIMEOUT_SECONDS: a row "sending" for much
        # longer was left by a worker that died.
        return timedelta(seconds=settings.WEBHOOK_STALE_AFTER_SECONDS)

    def rows(self) -> QuerySet:
        return WebhookDelivery.objects.select_related(
            "event", "subscription__api_key__acts_as"
        )

    def ready(self, now: datetime) -> Q:
        # A paused subscription's deliveries wait (none is lost) until it resumes.
        return Q(subscription__status=WebhookSubscription.Status.ACTIVE)

    def compose(self, row: WebhookDelivery) -> outbox.Message | None:
        key = row.subscription.api_key
        if (
            key.revoked_at is not None
            or not key.acts_as.is_active
            or "webhooks" not in key.scopes
            # The key's user may have lost the role since the event was written.
            or not _may_see(key.acts_as, row.event.type)
        ):
            return None
        return outbox.Message(
            channel=outbox.Channel.WEBHOOK,
            address=row.subscription.url,
            subject=row.event.type,
            text="",
        )

    def deliver(self, row: WebhookDelivery, message: outbox.Message) -> str:
        body = body_of(row)
        msg_id = str(row.event_id)
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": " ".join(
                sign(secret, msg_id, timestamp, body)
                for secret in row.subscription.signing_secrets(timezone.now())
            ),
        }
        started = time.monotonic()
        code: int | None = None
        excerpt = ""
        error = ""
        try:
            code, answer = post(message.address, headers=headers, body=body)
            excerpt = answer.decode("utf-8", "replace")[:EXCERPT]
            if not 200 <= code < 300:
                error = f"HTTP {code}"
        except targets.TargetRefused as exc:
            error = str(exc)
        except (OSError, http.client.HTTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"[:200] or "connection failed"
        ms = round((time.monotonic() - started) * 1000)
        line = {
            "at": timezone.now().isoformat(),
            "code": code,
            "ms": ms,
            "error": error,
        }
        WebhookDelivery.objects.filter(pk=row.pk).update(
            response_code=code,
            response_ms=ms,
            response_excerpt=excerpt,
            attempt_log=[*row.attempt_log, line][-LOG_KEPT:],
        )
        if error:
            raise messaging.SendFailed(error)
        return ""

    def lookup(self, row: WebhookDelivery) -> messaging.Lookup:
        # A receiver cannot be asked whether it has a delivery: one left "sending" is
        # sent again with the same webhook-id, which the receiver de-duplicates by.
        return messaging.NOT_ACCEPTED

    def backoff(self, attempts: int) -> timedelta:
        return BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1]

    def after_sent(self, row: WebhookDelivery, *, now: datetime) -> None:
        subscription = row.subscription
        if not subscription.consecutive_failures and subscription.failing_since is None:
            return  # as read when the row was claimed: nothing to reset
        WebhookSubscription.objects.filter(
            Q(consecutive_failures__gt=0) | Q(failing_since__isnull=False),
            pk=row.subscription_id,
        ).update(consecutive_failures=0, failing_since=None)

    def refused(
        self, row: WebhookDelivery, *, error: str, now: datetime, failed: bool
    ) -> None:
        from crm_site.webhooks.services import subscription_failed

        WebhookSubscription.objects.filter(pk=row.subscription_id).update(
            consecutive_failures=F("consecutive_failures") + 1
        )
        WebhookSubscription.objects.filter(
            pk=row.subscription_id, failing_since__isnull=True
        ).update(failing_since=now)
        subscription_failed(subscription_id=row.subscription_id, now=now)

    def describe(self, row: WebhookDelivery) -> str:
        return f"{row.event.type} → {row.subscription.url}"


DELIVERIES = WebhookKind()


class PauseNoticeKind(outbox.OutboxKind):
    name = "crm_site.webhook_pause_notice"
    label = gettext_lazy("Webhook pause e-mails to administrators")
    model = WebhookPauseNotice
    reviewed_by = "crm_site.use_admin"

    def rows(self) -> QuerySet:
        return WebhookPauseNotice.objects.select_related("subscription", "user")

    def compose(self, row: WebhookPauseNotice) -> outbox.Message | None:
        if not row.user.email or not row.user.is_active:
            return None
        link = settings.PUBLIC_BASE_URL + reverse(
            "admin:crm_site_webhooksubscription_change", args=[row.subscription_id]
        )
        return outbox.Message(
            channel=outbox.Channel.EMAIL,
            address=row.user.email,
            subject=str(gettext_lazy("Webhooks paused: %(url)s"))
            % {"url": row.subscription.url},
            text=str(
                gettext_lazy(
                    "Webhooks to %(url)s were paused after repeated failed "
                    "deliveries (%(reason)s). Deliveries wait; none is lost. Resume "
                    "the subscription once the receiver works: %(link)s"
                )
            )
            % {
                "url": row.subscription.url,
                "reason": row.subscription.paused_reason,
                "link": link,
            },
        )


PAUSE_NOTICES = PauseNoticeKind()
