"""Service background jobs."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="service.tasks.escalations_sweep", ignore_result=True)
def escalations_sweep() -> int:
    """Raise overdue requests up the escalation ladder; each level once."""
    from service.services import escalations_sweep as sweep

    return sweep()


@shared_task(name="service.tasks.handover_notice_send", ignore_result=True)
def handover_notice_send(notice_id: int) -> bool:
    """Send one handover notice; a duplicate delivery sends nothing."""
    from service.handover import notice_send

    return notice_send(notice_id=notice_id)


@shared_task(name="service.tasks.handover_notices_send", ignore_result=True)
def handover_notices_send() -> int:
    """Send every pending handover notice (lost tasks, broker outages, retries)."""
    from service.handover import notices_send_pending

    return notices_send_pending()


@shared_task(name="service.tasks.survey_invitations_send", ignore_result=True)
def survey_invitations_send() -> int:
    """Send the survey invitations that are due; each once."""
    from service.surveys import invitations_send_due

    return invitations_send_due()


@shared_task(name="service.tasks.survey_reminders_send", ignore_result=True)
def survey_reminders_send() -> int:
    """Remind owners who have not answered; each once."""
    from service.surveys import reminders_send

    return reminders_send()
