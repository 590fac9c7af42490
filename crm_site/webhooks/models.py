"""Webhook subscriptions, the events that happened and their deliveries (outbox rows)."""

from __future__ import annotations

import base64
import secrets
import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm_site.outbox import OutboxMessage, outbox_indexes

#: Standard Webhooks' prefix of a signing secret (the rest is base64 of the key).
SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


class WebhookSubscription(models.Model):
    """Where one integration wants which events, signed with its own secret.

    The secret is needed to sign every delivery, so it is stored; it is shown to a
    person once (when created or rotated) and never again."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        # Deliveries are still recorded but wait until an administrator resumes it.
        PAUSED = "paused", _("Paused")

    api_key = models.ForeignKey(
        "crm_site.ApiKey",
        verbose_name=_("API key"),
        on_delete=models.CASCADE,
        related_name="webhook_subscriptions",
    )
    url = models.URLField(_("target URL"), max_length=500)
    events = ArrayField(
        models.CharField(max_length=50), verbose_name=_("events"), default=list
    )
    description = models.CharField(_("purpose"), max_length=200, blank=True)
    secret = models.CharField(
        _("signing secret"), max_length=100, default=new_secret, editable=False
    )
    # After a rotation, deliveries are signed with both secrets for a while, so the
    # receiver can switch without refusing any (Standard Webhooks: several signatures).
    previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    previous_secret_until = models.DateTimeField(null=True, blank=True, editable=False)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    consecutive_failures = models.PositiveIntegerField(
        _("consecutive failures"), default=0
    )
    failing_since = models.DateTimeField(_("failing since"), null=True, blank=True)
    paused_at = models.DateTimeField(_("paused"), null=True, blank=True)
    paused_reason = models.CharField(_("why paused"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    secret_rotated_at = models.DateTimeField(_("secret rotated"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook subscription")
        verbose_name_plural = _("webhook subscriptions")
        ordering = ["api_key__name", "pk"]

    def __str__(self) -> str:
        return f"{self.api_key} → {self.url}"

    def signing_secrets(self, now) -> list[str]:
        if (
            self.previous_secret
            and self.previous_secret_until
            and (now < self.previous_secret_until)
        ):
            return [self.secret, self.previous_secret]
        return [self.secret]


class WebhookEvent(models.Model):
    """Something that happened, once; every delivery of it (retries, replays) carries
    its id as ``webhook-id``, so a receiver de-duplicates by it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(_("event"), max_length=50)
    occurred_at = models.DateTimeField(_("occurred"), default=timezone.now)
    data = models.JSONField(_("data"), default=dict)

    class Meta:
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")

    def __str__(self) -> str:
        return f"{self.type} {self.id}"

    def payload(self) -> dict:
        """The JSON body (Standard Webhooks shape: type, timestamp, data)."""
        return {
            "id": str(self.id),
            "type": self.type,
            "timestamp": self.occurred_at.isoformat(),
            "data": self.data,
        }


class WebhookDelivery(OutboxMessage):
    """One event to one subscription: an outbox row, retried until the receiver
    answers 2xx (or 24 hours have passed)."""

    event = models.ForeignKey(
        WebhookEvent,
        verbose_name=_("event"),
        on_delete=models.CASCADE,
        related_name="deliveries",
    )
    subscription = models.ForeignKey(
        WebhookSubscription,
        verbose_name=_("subscription"),
        on_delete=models.CASCADE,
        related_name="deliveries",
    )
    # A manual replay is a new delivery of the same event (same webhook-id).
    replay_of = models.ForeignKey(
        "self",
        verbose_name=_("replay of"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("queued"), default=timezone.now)
    response_code = models.PositiveSmallIntegerField(
        _("response code"), null=True, blank=True
    )
    response_ms = models.PositiveIntegerField(_("response time (ms)"), null=True)
    response_excerpt = models.CharField(_("response"), max_length=200, blank=True)
    # One line per attempt: when, response code, milliseconds, error.
    attempt_log = models.JSONField(_("attempts"), default=list, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        permissions = [("replay_webhookdelivery", _("Can replay webhook deliveries"))]
        indexes = [
            *outbox_indexes("webhookdelivery"),
            # The delivery log of one subscription, newest first, by status.
            models.Index(
                fields=["subscription", "-created_at"], name="webhookdelivery_log_idx"
            ),
            models.Index(
                fields=["subscription", "status", "-created_at"],
                name="webhookdelivery_status_idx",
            ),
            # Resume: the waiting deliveries of one subscription.
            models.Index(
                fields=["subscription", "next_attempt_at"],
                condition=Q(status="pending"),
                name="webhookdelivery_waiting_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event.type} → {self.subscription.url}"


class WebhookPauseNotice(OutboxMessage):
    """The e-mail that tells an administrator a subscription paused itself (the
    in-app notification is written with the pause; this one goes by the outbox)."""

    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="+"
    )
    user = models.ForeignKey(
        "crm_site.User", on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("webhook pause e-mail")
        verbose_name_plural = _("webhook pause e-mails")
        indexes = outbox_indexes("webhookpausenotice")

    def __str__(self) -> str:
        return f"{self.user} ← {self.subscription.url}"
