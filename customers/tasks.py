"""Customer background jobs: thin wrappers, IDs in, the work in services."""

from __future__ import annotations

from celery import shared_task

from crm_site.jobs import tracked


# A 20 MB file holds some 300,000 rows: far longer than the global 120 s limit.
@shared_task(
    name="customers.tasks.import_run",
    ignore_result=True,
    soft_time_limit=900,
    time_limit=960,
)
def import_run(job_id: int) -> None:
    """Run a checked import; safe to run twice (the job is claimed atomically)."""
    from customers.services.imports import import_run as run

    run(job_id=job_id)


# The dry run reads the whole file: for a big one, longer than a request may take.
@shared_task(
    name="customers.tasks.import_check",
    ignore_result=True,
    soft_time_limit=900,
    time_limit=960,
)
def import_check(job_id: int) -> None:
    """Dry-run a queued check; safe to run twice (it only writes the verdicts)."""
    from customers.services.imports import import_check_run

    import_check_run(job_id=job_id)


# Undoing a killed 300,000-row import takes as long as an import may.
@shared_task(
    name="customers.tasks.imports_sweep",
    ignore_result=True,
    soft_time_limit=900,
    time_limit=960,
)
@tracked("customers.imports_sweep")
def imports_sweep() -> str:
    """Imports a lost task or a dead worker left queued, running or half checked:
    run again, or failed and undone. Each job is claimed, so running twice acts
    once."""
    from customers.services.imports import import_sweep

    return str(import_sweep())


@shared_task(name="customers.tasks.duplicate_scan", ignore_result=True)
def duplicate_scan() -> None:
    """Look for candidate duplicate pairs; pairs already known are not added again."""
    from customers.services.merge import duplicate_scan as scan

    scan()


@shared_task(name="customers.tasks.portal_code_send", ignore_result=True)
def portal_code_send(code_id: int) -> bool:
    """Send one owner portal sign-in code; the outbox claims it, so running twice
    sends it once."""
    from customers.services.portal import portal_code_send as send

    return send(code_id=code_id)


@shared_task(name="customers.tasks.portal_codes_send_pending", ignore_result=True)
def portal_codes_send_pending() -> int:
    """Sign-in codes whose task was lost and that are still alive."""
    from customers.services.portal import portal_codes_send_pending as send

    return send()


@shared_task(name="customers.tasks.portal_codes_prune", ignore_result=True)
def portal_codes_prune() -> int:
    """Forget sign-in code rows older than a week (they only serve the limits, which
    look back an hour, and the personal-information export)."""
    from customers.services.portal import portal_codes_prune as prune

    return prune()
