"""Marketing background jobs: sending campaign invitations from their outbox,
finishing campaigns past their end date, member-club points."""

from __future__ import annotations

from celery import shared_task
from django.core.cache import cache

from crm_site.jobs import tracked

# One batch per campaign per minute, whichever worker and however it was queued (the
# Send button, the pump): the key is kept for the minute, not released after the run.
BATCH_SECONDS = 55  # a little under the pump's minute, so beat's jitter skips no batch


@shared_task(name="marketing.tasks.invitations_send", ignore_result=True)
def invitations_send(campaign_id: int) -> int:
    """Send one batch (MARKETING_SEND_PER_MINUTE) of the campaign's queued rows; the
    pump sends the next batch a minute later. Safe to run twice or after a crash."""
    from marketing.services import invitations_send as send

    if not cache.add(batch_key(campaign_id), 1, timeout=BATCH_SECONDS):
        return 0  # this minute's batch is taken; the pump sends the next one
    return send(campaign_id=campaign_id)


def batch_key(campaign_id: int) -> str:
    return f"marketing:batch:{campaign_id}"


@shared_task(name="marketing.tasks.invitations_pump", ignore_result=True)
@tracked("marketing.invitations_pump")
def invitations_pump() -> int:
    """Every minute: settle rows a crashed sender left 'sending' (checked with the
    provider, never re-sent blindly), queue a batch for every campaign with queued
    invitations (a lost message only delays them)."""
    from marketing.services.invitations import (
        campaigns_with_queued,
        invitations_recover,
    )

    invitations_recover()
    pending = campaigns_with_queued()
    for campaign_id in pending:
        invitations_send.delay(campaign_id)
    return len(pending)


@shared_task(name="marketing.tasks.campaigns_finish", ignore_result=True)
@tracked("marketing.campaigns_finish")
def campaigns_finish() -> int:
    """Hourly: record as finished the running campaigns whose end date has passed
    (every read treats them as ended already). A campaign finishes once, under its
    row lock: a second run, or one after a missed hour, finishes nothing twice."""
    from marketing.services import campaigns_finish as finish

    return finish()


@shared_task(name="marketing.tasks.points_award", ignore_result=True)
def points_award(source: str, customer_ids: list[int]) -> int:
    """Award a source's occurrences of these members now (queued on commit where
    marketing sees the fact: a referral reaching contract, a check-in at an event).
    The occurrence key makes a second run, or the hourly sweep, award nothing more."""
    from marketing.services.club import points_award as award

    return award(source=source, customer_ids=customer_ids)


@shared_task(name="marketing.tasks.points_sweep", ignore_result=True)
def points_sweep() -> str | None:
    """The hourly sweep of every active point rule's sources (crm_site.jobs runs it
    once an hour and catches a missed hour up)."""
    from crm_site.jobs import job_run
    from marketing.services.club import SWEEP_JOB

    return job_run(SWEEP_JOB)
