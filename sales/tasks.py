"""Sales background jobs."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="sales.tasks.holds_expire", ignore_result=True)
def holds_expire() -> int:
    """Release unit holds past their deadline; running it twice releases nothing twice."""
    from sales.services import holds_expire as expire

    return expire()


@shared_task(name="sales.tasks.registrations_sweep", ignore_result=True)
def registrations_sweep() -> int:
    """Return customers whose protection lapsed to the public pool; idempotent."""
    from sales.services.ownership import registrations_sweep as sweep

    return sweep()


@shared_task(name="sales.tasks.registrations_warn", ignore_result=True)
def registrations_warn() -> int:
    """Warn consultants of customers about to return to the pool; each once."""
    from sales.services.ownership import registrations_warn as warn

    return warn()
