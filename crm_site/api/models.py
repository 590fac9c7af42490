"""Keys of the systems that call the API (crm_site.api)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm_site.api.scopes import Scope

#: Every key starts with this, so a leaked one is recognisable in logs and scanners.
KEY_PREFIX = "anju"


def _digest(secret: str) -> str:
    # Keys are long random strings: a keyed SHA-256 is enough (no slow hash needed),
    # and the server's secret makes a stolen table useless on its own.
    return hmac.new(
        settings.SECRET_KEY.encode(), secret.encode(), hashlib.sha256
    ).hexdigest()


class ApiKeyQuerySet(models.QuerySet):
    def usable(self) -> ApiKeyQuerySet:
        return self.filter(revoked_at__isnull=True, acts_as__is_active=True)


class ApiKey(models.Model):
    """One integration (the ERP, the hotline, the website) and what it may do.

    The key itself is shown once, when it is created or rotated; only its digest is
    kept. ``lookup`` (its first characters) finds the row without a scan."""

    name = models.CharField(_("system"), max_length=100, unique=True)
    lookup = models.CharField(max_length=16, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    scopes = ArrayField(
        models.CharField(max_length=30, choices=Scope.choices),
        verbose_name=_("scopes"),
        default=list,
        blank=True,
    )
    # The user whose role, row scope and masking the key acts with (for example an
    # "ERP" account with the sales manager role, or one consultant).
    acts_as = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("acts as"),
        on_delete=models.PROTECT,
        related_name="api_keys",
    )
    rate_per_minute = models.PositiveIntegerField(_("requests per minute"), default=600)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    rotated_at = models.DateTimeField(_("rotated"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def set_new_secret(self) -> str:
        """A new key for this row; returns it (the only time it is seen)."""
        self.lookup = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        self.digest = _digest(secret)
        return f"{KEY_PREFIX}_{self.lookup}_{secret}"

    set_new_secret.alters_data = True

    def matches(self, secret: str) -> bool:
        return hmac.compare_digest(self.digest, _digest(secret))

    @staticmethod
    def split(raw: str) -> tuple[str, str] | None:
        """(lookup, secret) of a presented key, or None when it is not one of ours."""
        parts = raw.split("_", 2)
        if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != 16:
            return None
        return parts[1], parts[2]


class IdempotentRequest(models.Model):
    """The first answer to a POST sent with an ``Idempotency-Key`` header.

    A repeat of the same key and body gets this answer again instead of acting
    twice; a repeat while the first is still running (``status`` still null) gets
    409. Kept 24 hours (crm_site.tasks.idempotency_purge)."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # SHA-256 of the method, path and body: the same key with another body is a
    # client error (422), not a replay.
    fingerprint = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    body = models.BinaryField(default=b"")
    content_type = models.CharField(max_length=100, blank=True)
    location = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["api_key", "key"], name="api_idempotency_unique_key"
            )
        ]
        indexes = [models.Index(fields=["created_at"], name="api_idempotency_age_idx")]

    def __str__(self) -> str:
        return self.key
