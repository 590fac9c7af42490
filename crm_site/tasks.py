"""Cross-cutting Celery tasks."""

from __future__ import annotations

from celery import shared_task

from crm_site.jobs import tracked
from crm_site.models import Heartbeat


@shared_task(name="crm_site.tasks.heartbeat", ignore_result=True)
def heartbeat() -> None:
    """Beat publishes this every HEALTH_HEARTBEAT_INTERVAL; running it proves a worker
    is consuming (the worker also beats from its main process, crm_site.celery)."""
    Heartbeat.beat(Heartbeat.Component.WORKER)


@shared_task(name="crm_site.tasks.overview_warm", ignore_result=True)
def overview_warm() -> int:
    """Precompute the managers' default overview of every scope."""
    from crm_site.overview import warm
    from crm_site.replica import replica_reads

    # Reports read off the primary when a replica serves (crm_site.replica).
    with replica_reads():
        return warm()


@shared_task(name="crm_site.tasks.jobs_catch_up", ignore_result=True)
def jobs_catch_up() -> list[str]:
    """Run the daily and hourly jobs whose run was missed (crm_site.jobs); each job
    runs once per period, so this and the jobs' own beat entries never both run it."""
    from crm_site.jobs import catch_up

    return catch_up()


@shared_task(name="crm_site.tasks.submissions_prune", ignore_result=True)
def submissions_prune() -> int:
    """Forget one-time form tokens older than two days."""
    from crm_site.submissions import submissions_prune

    return submissions_prune()


@shared_task(name="crm_site.tasks.portal_sessions_prune", ignore_result=True)
def portal_sessions_prune() -> None:
    """Forget expired owner sessions (Django's clearsessions knows only staff ones)."""
    from crm_site.portal import SessionStore

    SessionStore.clear_expired()


@shared_task(name="crm_site.tasks.idempotency_purge", ignore_result=True)
def idempotency_purge() -> int:
    """Forget the API's stored answers to Idempotency-Key POSTs older than 24 h."""
    from crm_site.api.idempotency import purge

    return purge()


@shared_task(name="crm_site.tasks.api_keys_last_use_save", ignore_result=True)
def api_keys_last_use_save() -> int:
    """Copy the API keys' last use from Redis to their rows."""
    from crm_site.api.keys import api_keys_last_use_save

    return api_keys_last_use_save()


@shared_task(name="crm_site.tasks.webhook_deliver", ignore_result=True)
def webhook_deliver(delivery_id: int) -> bool:
    """POST one webhook delivery; a duplicate task sends nothing."""
    from crm_site.webhooks.services import delivery_send

    return delivery_send(delivery_id=delivery_id)


@shared_task(name="crm_site.tasks.webhook_pause_notice_send", ignore_result=True)
def webhook_pause_notice_send(notice_id: int) -> bool:
    """E-mail one administrator that a webhook subscription paused; once."""
    from crm_site.webhooks.services import pause_notice_send

    return pause_notice_send(notice_id=notice_id)


@shared_task(name="crm_site.tasks.webhooks_send_pending", ignore_result=True)
@tracked("crm_site.webhooks_send_pending")
def webhooks_send_pending() -> int:
    """The sweep: deliveries a dead worker left "sending" are due again, then one
    task per due delivery (its task was lost, or its retry time has come)."""
    from crm_site.webhooks.services import deliveries_pending

    pending = deliveries_pending()
    for pk in pending:
        webhook_deliver.delay(pk)
    return len(pending)


@shared_task(name="crm_site.tasks.insight_refresh", ignore_result=True)
def insight_refresh() -> dict[str, int]:
    """Bring the explorer's fact tables up to date with the rows changed since the
    last run (crm_site.insight); overlapping runs skip a table another one holds."""
    from crm_site import insight

    return insight.refresh()


@shared_task(name="crm_site.tasks.reports_send", ignore_result=True)
def reports_send() -> int:
    """Queue the reports that are due (one row per subscription and day) and send
    them through the outbox (crm_site.reports); running twice sends each once."""
    from crm_site.reports import reports_send as send

    return send()
