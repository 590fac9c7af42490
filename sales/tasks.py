"""Sales background jobs."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="sales.tasks.holds_expire", ignore_result=True)
def holds_expire() -> int:
    """Release unit holds past their deadline; running it twice releases nothing twice."""
    from sales.services import holds_expire as expire

    return expire()
