"""Service background jobs."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="service.tasks.escalations_sweep", ignore_result=True)
def escalations_sweep() -> int:
    """Raise overdue requests up the escalation ladder; each level once."""
    from service.services import escalations_sweep as sweep

    return sweep()


@shared_task(name="service.tasks.dashboard_warm", ignore_result=True)
def dashboard_warm() -> int:
    """Precompute the service dashboard's default view (all projects and each one)."""
    from service.dashboard import warm

    return warm()
