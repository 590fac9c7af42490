"""Sales background jobs."""

from __future__ import annotations

from celery import shared_task

from crm_site.jobs import tracked


@shared_task(name="sales.tasks.holds_expire", ignore_result=True)
@tracked("sales.holds_expire")
def holds_expire() -> int:
    """Release unit holds past their deadline; running it twice releases nothing twice."""
    from sales.services import holds_expire as expire

    return expire()


@shared_task(name="sales.tasks.registrations_sweep", ignore_result=True)
@tracked("sales.registrations_sweep")
def registrations_sweep() -> int:
    """Return customers whose protection lapsed to the public pool; idempotent."""
    from sales.services.ownership import registrations_sweep as sweep

    return sweep()


@shared_task(name="sales.tasks.registrations_warn", ignore_result=True)
def registrations_warn() -> str | None:
    """Warn consultants of customers about to return to the pool; each once, the job
    once an hour (crm_site.jobs)."""
    from crm_site.jobs import job_run
    from sales.services.reminders import WARN_JOB

    return job_run(WARN_JOB)


@shared_task(name="sales.tasks.follow_up_digest", ignore_result=True)
def follow_up_digest() -> str | None:
    """The morning job: digest rows first, then one message per row; once a day
    however often it is delivered (crm_site.jobs guards it)."""
    from crm_site.jobs import job_run
    from sales.services.reminders import DIGEST_JOB

    return job_run(DIGEST_JOB)


@shared_task(name="sales.tasks.digest_send", ignore_result=True)
def digest_send(digest_id: int) -> bool:
    from sales.services.reminders import digest_send as send

    return send(digest_id=digest_id)


@shared_task(name="sales.tasks.digests_send_pending", ignore_result=True)
@tracked("sales.digests_send_pending")
def digests_send_pending() -> int:
    """Settle interrupted sends and re-queue digests whose message was lost; sending
    twice is impossible."""
    from sales.services.reminders import digests_stale

    stale = digests_stale()
    for digest_id in stale:
        digest_send.delay(digest_id)
    return len(stale)


@shared_task(name="sales.tasks.dashboard_warm", ignore_result=True)
@tracked("sales.dashboard_warm")
def dashboard_warm() -> int:
    """Precompute the sales dashboard of every scope before anyone asks for it."""
    from crm_site.replica import replica_reads
    from sales.dashboard import warm

    # Reports read off the primary when a replica serves (crm_site.replica).
    with replica_reads():
        return warm()


@shared_task(name="sales.tasks.unit_import_check", ignore_result=True)
def unit_import_check(token: str) -> None:
    """Dry-run an uploaded unit file; safe to run twice (the second finds it done)."""
    from sales.services.unit_import import units_check_run

    units_check_run(token=token)


@shared_task(name="sales.tasks.session_order_notice_send", ignore_result=True)
def session_order_notice_send(notice_id: int) -> bool:
    """Send one buyer's number and slot; a duplicate delivery sends nothing."""
    from sales.services.lottery import notice_send

    return notice_send(notice_id=notice_id)


@shared_task(name="sales.tasks.session_order_notices_send", ignore_result=True)
@tracked("sales.session_order_notices_send")
def session_order_notices_send() -> int:
    """The sweep: one send task per order message still to send."""
    from sales.services.lottery import notices_pending

    pending = notices_pending()
    for pk in pending:
        session_order_notice_send.delay(pk)
    return len(pending)


@shared_task(name="sales.tasks.selection_complete", ignore_result=True)
def selection_complete(selection_id: int) -> None:
    """The paperwork of a selection a buyer's phone claimed; a duplicate delivery
    finds it done (sales.services.opening.selection_complete)."""
    from sales.services.opening import selection_complete as complete

    complete(selection_id)


@shared_task(name="sales.tasks.selections_complete_pending", ignore_result=True)
@tracked("sales.selections_complete_pending")
def selections_complete_pending() -> int:
    """The sweep: selections claimed a while ago whose paperwork is still to do."""
    from datetime import timedelta

    from sales.services.opening import selections_to_sign

    pending = selections_to_sign(older_than=timedelta(seconds=30))
    for pk in pending:
        selection_complete.delay(pk)
    return len(pending)
