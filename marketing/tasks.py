"""Marketing background jobs: sending campaign invitations from their outbox."""

from __future__ import annotations

from celery import shared_task
from django.core.cache import cache

# One sender per campaign at a time, so the rate limit holds across workers.
LOCK_SECONDS = 170


@shared_task(name="marketing.tasks.invitations_send", ignore_result=True)
def invitations_send(campaign_id: int) -> int:
    """Send one batch (MARKETING_SEND_PER_MINUTE) of the campaign's queued rows; the
    pump sends the next batch a minute later. Safe to run twice or after a crash."""
    from marketing.services import invitations_send as send

    key = f"marketing:sending:{campaign_id}"
    if not cache.add(key, 1, timeout=LOCK_SECONDS):
        return 0
    try:
        return send(campaign_id=campaign_id)
    finally:
        cache.delete(key)


@shared_task(name="marketing.tasks.invitations_pump", ignore_result=True)
def invitations_pump() -> int:
    """Every minute: mark interrupted rows, queue a batch for every campaign with
    queued invitations (a lost message only delays them)."""
    from marketing.services.invitations import (
        campaigns_with_queued,
        invitations_stale_fail,
    )

    invitations_stale_fail()
    pending = campaigns_with_queued()
    for campaign_id in pending:
        invitations_send.delay(campaign_id)
    return len(pending)
