"""Service background jobs."""

from __future__ import annotations

from celery import shared_task

from crm_site.jobs import tracked


@shared_task(name="service.tasks.escalations_sweep", ignore_result=True)
@tracked("service.escalations_sweep")
def escalations_sweep() -> int:
    """Raise overdue requests up the escalation ladder; each level once. Requests
    that just became late are marked for the insight facts' refresh too."""
    from service.insight import deadlines_passed_mark
    from service.services import escalations_sweep as sweep

    raised = sweep()
    deadlines_passed_mark()
    return raised


@shared_task(name="service.tasks.dashboard_warm", ignore_result=True)
@tracked("service.dashboard_warm")
def dashboard_warm() -> int:
    """Precompute the service dashboard's default view (all projects and each one)."""
    from crm_site.replica import replica_reads
    from service.dashboard import warm

    # Reports read off the primary when a replica serves (crm_site.replica).
    with replica_reads():
        return warm()


@shared_task(name="service.tasks.handover_notice_send", ignore_result=True)
def handover_notice_send(notice_id: int) -> bool:
    """Send one handover notice; a duplicate delivery sends nothing."""
    from service.handover import notice_send

    return notice_send(notice_id=notice_id)


@shared_task(name="service.tasks.handover_notices_send", ignore_result=True)
@tracked("service.handover_notices_send")
def handover_notices_send() -> int:
    """The sweep: one send task per pending handover notice."""
    from service.handover import notices_pending

    pending = notices_pending()
    for pk in pending:
        handover_notice_send.delay(pk)
    return len(pending)


@shared_task(name="service.tasks.survey_invitation_send", ignore_result=True)
def survey_invitation_send(invitation_id: int) -> bool:
    """Send one survey invitation; a duplicate delivery sends nothing."""
    from service.surveys import invitation_send

    return invitation_send(invitation_id=invitation_id)


@shared_task(name="service.tasks.survey_invitations_send", ignore_result=True)
@tracked("service.survey_invitations_send")
def survey_invitations_send() -> int:
    """The beat job: one send task per due survey invitation."""
    from service.surveys import invitations_due

    due = invitations_due()
    for pk in due:
        survey_invitation_send.delay(pk)
    return len(due)


@shared_task(name="service.tasks.survey_reminder_send", ignore_result=True)
def survey_reminder_send(invitation_id: int) -> bool:
    """Send one survey reminder; at most once per invitation."""
    from service.surveys import reminder_send

    return reminder_send(invitation_id=invitation_id)


@shared_task(name="service.tasks.survey_reminders_send", ignore_result=True)
@tracked("service.survey_reminders_send")
def survey_reminders_send() -> int:
    """The beat job: one reminder task per owner who has not answered in time."""
    from service.surveys import reminders_due

    due = reminders_due()
    for pk in due:
        survey_reminder_send.delay(pk)
    return len(due)


@shared_task(name="service.tasks.portal_notice_send", ignore_result=True)
def portal_notice_send(notice_id: int) -> bool:
    """Send one message about an owner's portal request or letter; once."""
    from service.portal_requests import notice_send

    return notice_send(notice_id=notice_id)


@shared_task(name="service.tasks.portal_notices_send", ignore_result=True)
@tracked("service.portal_notices_send")
def portal_notices_send() -> int:
    """The sweep: one send task per message whose own task was lost or is due again."""
    from service.portal_requests import notices_pending

    pending = notices_pending()
    for pk in pending:
        portal_notice_send.delay(pk)
    return len(pending)
