"""Creating, changing, rotating and revoking integration keys (audited), and
recording their last use."""

from __future__ import annotations

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from crm_site.api.models import ApiKey
from crm_site.audit import audit_change, audit_record, snapshot
from crm_site.models import AuditEntry, User

#: Fields whose change is audited (the secret never is: only that it was rotated).
AUDITED = ["name", "scopes", "acts_as", "rate_per_minute"]


@transaction.atomic
def api_key_create(
    *,
    actor: User | None,
    name: str,
    acts_as: User,
    scopes: list[str],
    rate_per_minute: int = 600,
) -> tuple[ApiKey, str]:
    """A new key; returns it with its secret (the only time the secret exists)."""
    key = ApiKey(
        name=name,
        acts_as=acts_as,
        scopes=list(scopes),
        rate_per_minute=rate_per_minute,
        created_by=actor,
    )
    raw = key.set_new_secret()
    key.save()
    audit_record(
        actor=actor,
        instance=key,
        action=AuditEntry.Action.CREATE,
        changes={
            name: {"old": "", "new": value}
            for name, value in snapshot(key, AUDITED).items()
        },
    )
    return key, raw


@transaction.atomic
def api_key_update(
    *, actor: User | None, key: ApiKey, before: dict[str, str]
) -> ApiKey:
    """Save the changes made to ``key`` since ``before`` (a snapshot of AUDITED)."""
    key.save()
    audit_change(actor=actor, instance=key, before=before)
    return key


@transaction.atomic
def api_key_rotate(*, actor: User | None, key: ApiKey) -> str:
    """A new secret for the key; the old one stops working at once."""
    key = ApiKey.objects.select_for_update().get(pk=key.pk)
    raw = key.set_new_secret()
    key.rotated_at = timezone.now()
    key.save(update_fields=["lookup", "digest", "rotated_at"])
    audit_record(actor=actor, instance=key, action=AuditEntry.Action.KEY_ROTATE)
    return raw


@transaction.atomic
def api_key_revoke(*, actor: User | None, key: ApiKey) -> bool:
    """Revoke the key (kept for the trail); False when it already was."""
    changed = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if changed:
        key.refresh_from_db(fields=["revoked_at"])
        audit_record(actor=actor, instance=key, action=AuditEntry.Action.KEY_REVOKE)
    return bool(changed)


#: Seconds a noted use waits in Redis for the job that saves it.
LAST_USE_KEEP = 24 * 3600


def used_marker(pk: int) -> str:
    """The cache key where each call notes the key's last use (the rate limiter
    sets it in the same round trip as its count: crm_site.api.throttling)."""
    return f"api-key-used:{pk}"


def api_keys_last_use_save() -> int:
    """Copy the last uses noted in Redis to ``ApiKey.last_used_at`` (the periodic
    job, every minute): one conditional UPDATE per key used since; returns how
    many keys changed."""
    from datetime import UTC, datetime

    pks = list(
        ApiKey.objects.filter(revoked_at__isnull=True).values_list("pk", flat=True)
    )
    noted = cache.get_many([used_marker(pk) for pk in pks])
    changed = 0
    for pk in pks:
        stamp = noted.get(used_marker(pk))
        if stamp is None:
            continue
        when = datetime.fromtimestamp(stamp, tz=UTC)
        changed += ApiKey.objects.filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=when), pk=pk
        ).update(last_used_at=when)
    return changed
