"""Satisfaction surveys: the index, invitations, sending, answering, and the figures.

An invitation is a row first (one per closed request, one per handover: unique keys),
sent by the beat job when due through the owner's preferred channel with a signed link;
the owner answers once on a page that needs no login. The satisfaction index of an
answer is the weighted mean of its 1–5 scores scaled to 0–100 (1 → 0, 5 → 100).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Avg, Count, Q, QuerySet
from django.db.models.functions import TruncMonth
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm_site import outbox, webhooks
from customers.services import interaction_log
from sales.models import Opportunity, Project
from service import events as service_events
from service import outreach
from service.models import (
    HandoverAppointment,
    ServiceRequest,
    SurveyAnswer,
    SurveyInvitation,
    SurveyQuestion,
    SurveyReminder,
    SurveyResponse,
    SurveyTemplate,
)
from service.survey_defaults import active_template

SCALE_MAX = 5
LINK_SALT = "service.survey.link"
HUNDRED = Decimal("100")
TWO_PLACES = Decimal("0.01")
# Surveys planned days ahead go out at this local time, not at night.
SEND_AT = time(10)
# Rows a beat run hands out at most; the next run takes the rest.
BATCH = 5000


class AlreadyAnswered(Exception):
    """The invitation was answered before; an answer is never replaced."""


# The index ------------------------------------------------------------------------


def satisfaction_index(
    answers: Iterable[tuple[int, Decimal]], *, scale_max: int = SCALE_MAX
) -> Decimal | None:
    """The weighted mean of (score, weight) pairs on a 1..scale_max scale, as 0–100
    with two decimals; None when nothing was answered."""
    total = Decimal("0")
    weights = Decimal("0")
    for score, weight in answers:
        if not 1 <= score <= scale_max:
            raise ValueError(f"score {score} outside 1..{scale_max}")
        weight = Decimal(weight)
        total += weight * Decimal(score - 1) / Decimal(scale_max - 1)
        weights += weight
    if not weights:
        return None
    return (total / weights * HUNDRED).quantize(TWO_PLACES, rounding=ROUND_HALF_UP)


def satisfaction_index_for(responses: QuerySet[SurveyResponse]) -> Decimal | None:
    """The index of many answers: the mean of their indices, each owner counting once.
    One query; None when there is no answer."""
    value = responses.aggregate(index=Avg("index"))["index"]
    if value is None:
        return None
    return Decimal(value).quantize(TWO_PLACES, rounding=ROUND_HALF_UP)


def satisfaction_by_month(
    projects: Iterable[Project] | QuerySet[Project] | None = None, months: int = 12
) -> list[dict]:
    """Satisfaction per project and calendar month (Asia/Shanghai), oldest first.

    ``projects``: limit to these projects (None: every project, plus answers with no
    project under project None). ``months``: this month and the months before it.

    Returns a list of dicts, one per project and month that has answers::

        {"project_id": 3, "project": "安居·御景湾", "month": date(2026, 11, 1),
         "index": Decimal("86.25"), "answers": 12}

    ``index`` is the satisfaction index (0–100, two decimals) of that month's answers,
    ``answers`` how many owners answered. One query.
    """
    today = timezone.localdate()
    first = date(today.year, today.month, 1)
    for _n in range(months - 1):
        first = (first - timedelta(days=1)).replace(day=1)
    since = timezone.make_aware(datetime.combine(first, datetime.min.time()))
    qs = SurveyResponse.objects.filter(submitted_at__gte=since)
    if projects is not None:
        qs = qs.filter(project__in=projects)
    rows = (
        qs.annotate(month=TruncMonth("submitted_at"))
        .values("project_id", "project__name", "month")
        .annotate(index=Avg("index"), answers=Count("id"))
        .order_by("month", "project__name")
    )
    return [
        {
            "project_id": row["project_id"],
            "project": row["project__name"] or "",
            "month": timezone.localtime(row["month"]).date()
            if isinstance(row["month"], datetime)
            else row["month"],
            "index": Decimal(row["index"]).quantize(TWO_PLACES, ROUND_HALF_UP),
            "answers": row["answers"],
        }
        for row in rows
    ]


# Invitations ----------------------------------------------------------------------


def invitation_for_request(
    request: ServiceRequest, *, due_after: timedelta | None = None
) -> SurveyInvitation:
    """The survey after a closed request; at most one per request. The caller holds
    the transaction that closed it. ``due_after``: sent that much later (the owner
    may answer it in the portal meanwhile, and then gets no message)."""
    template = active_template(SurveyTemplate.Occasion.REQUEST_CLOSED)
    project_id = _project_of(request)
    invitation, _created = SurveyInvitation.objects.get_or_create(
        request=request,
        defaults={
            "template": template,
            "customer_id": request.customer_id,
            "project_id": project_id,
            "due_at": timezone.now() + (due_after or timedelta()),
        },
    )
    return invitation


def _project_of(request: ServiceRequest) -> int | None:
    """The project a request is about: its unit's, else that of the owner's latest
    purchase (so a complaint taken without a unit still counts for its project)."""
    if request.unit_id:
        return (
            ServiceRequest.objects.filter(pk=request.pk)
            .values_list("unit__building__project_id", flat=True)
            .get()
        )
    return (
        Opportunity.objects.filter(
            # A co-buyer is an owner too (sales.CoBuyer).
            Q(customer_id=request.customer_id)
            | Q(co_buyers__customer_id=request.customer_id),
            stage__in=[
                Opportunity.Stage.SUBSCRIBED,
                Opportunity.Stage.CONTRACTED,
                Opportunity.Stage.PAID,
            ],
        )
        .order_by("-stage_changed_at")
        .values_list("project_id", flat=True)
        .first()
    )


def invitation_for_handover(appointment: HandoverAppointment) -> SurveyInvitation:
    """The survey SURVEY_AFTER_HANDOVER_DAYS after a handover, in the morning (local
    time); at most one per appointment."""
    template = active_template(SurveyTemplate.Occasion.HANDOVER)
    handed_over = appointment.handed_over_on or timezone.localdate()
    due_at = timezone.make_aware(
        datetime.combine(
            handed_over + timedelta(days=settings.SURVEY_AFTER_HANDOVER_DAYS),
            SEND_AT,
        )
    )
    invitation, _created = SurveyInvitation.objects.get_or_create(
        appointment=appointment,
        defaults={
            "template": template,
            "customer_id": appointment.customer_id,
            "project_id": appointment.unit.building.project_id,
            "due_at": due_at,
        },
    )
    return invitation


# Links ------------------------------------------------------------------------------


def survey_token(invitation: SurveyInvitation) -> str:
    return signing.dumps(invitation.pk, salt=LINK_SALT, compress=True)


def survey_link(invitation: SurveyInvitation) -> str:
    path = reverse("service:survey-answer", args=[survey_token(invitation)])
    return f"{settings.PUBLIC_BASE_URL}{path}"


def invitation_from_token(token: str) -> SurveyInvitation:
    """The invitation a link is for. Raises signing.SignatureExpired for an old link,
    signing.BadSignature for a tampered one, SurveyInvitation.DoesNotExist if gone.

    A link works for SURVEY_LINK_MAX_AGE_DAYS from the invitation's first sending,
    not from the message that carried it: the reminder's link, signed days later,
    ends with the invitation's."""
    max_age = timedelta(days=settings.SURVEY_LINK_MAX_AGE_DAYS)
    pk = signing.loads(token, salt=LINK_SALT, max_age=max_age)
    invitation = SurveyInvitation.objects.select_related("template").get(pk=int(pk))
    if timezone.now() > links_end(invitation):
        raise signing.SignatureExpired(
            "the survey's invitation is older than its links"
        )
    return invitation


def links_end(invitation: SurveyInvitation) -> datetime:
    """When every link to this invitation's survey stops working."""
    first_sent = invitation.sent_at or invitation.due_at
    return first_sent + timedelta(days=settings.SURVEY_LINK_MAX_AGE_DAYS)


# A reminder is worth sending only while its link works for at least this long.
REMINDER_LINK_LEFT = timedelta(days=1)


# Sending ----------------------------------------------------------------------------


def _compose(
    invitation: SurveyInvitation, *, reminder: bool = False
) -> tuple[str, str]:
    subject = _("Anju service survey")
    text = _(
        "Dear %(name)s, how satisfied are you with our service? One minute: %(link)s"
    )
    if reminder:
        text = _(
            "Dear %(name)s, a reminder: we would value your answer to our short survey: %(link)s"
        )
    return str(subject), text % {
        "name": invitation.customer.name,
        "link": survey_link(invitation),
    }


class InvitationKind(outbox.OutboxKind):
    name = "service.survey_invitation"
    label = gettext_lazy("Survey invitations")
    model = SurveyInvitation

    def rows(self):
        return SurveyInvitation.objects.select_related("customer")

    def ready(self, now: datetime) -> Q:
        return Q(due_at__lte=now)

    def compose(self, row: SurveyInvitation) -> outbox.Message | None:
        if row.answered_at is not None:
            return None  # answered in the owners' portal before it was due
        return outreach.message_to(row.customer, *_compose(row))

    def describe(self, row: SurveyInvitation) -> str:
        return f"{row.customer} · {row.template}"


class ReminderKind(outbox.OutboxKind):
    name = "service.survey_reminder"
    label = gettext_lazy("Survey reminders")
    model = SurveyReminder

    def rows(self):
        return SurveyReminder.objects.select_related(
            "invitation__customer", "invitation__template"
        )

    def compose(self, row: SurveyReminder) -> outbox.Message | None:
        invitation = row.invitation
        if invitation.answered_at is not None:
            return None  # answered since the reminder was planned
        if timezone.now() + REMINDER_LINK_LEFT > links_end(invitation):
            return None  # late (an outage, a backlog): its link would be dead
        return outreach.message_to(
            invitation.customer, *_compose(invitation, reminder=True)
        )

    def after_sent(self, row: SurveyReminder, *, now: datetime) -> None:
        SurveyInvitation.objects.filter(pk=row.invitation_id).update(reminded_at=now)

    def describe(self, row: SurveyReminder) -> str:
        return f"{row.invitation.customer} · {row.invitation.template}"


INVITATIONS = InvitationKind()
REMINDERS = ReminderKind()


def invitation_send(*, invitation_id: int) -> bool:
    """Send one invitation; a second call, or a concurrent one, sends nothing."""
    return outbox.send_one(INVITATIONS, invitation_id)


def invitations_due(*, now: datetime | None = None) -> list[int]:
    """Invitations to send now (after settling sends a crashed worker interrupted)."""
    outbox.recover_stale(INVITATIONS, now=now)
    return outbox.due_ids(INVITATIONS, now=now, limit=BATCH)


def invitations_send_due(*, now: datetime | None = None) -> int:
    """Send every due invitation here and now, each claimed and sent once."""
    outbox.recover_stale(INVITATIONS, now=now)
    return outbox.send_due(INVITATIONS, now=now)


def reminders_plan(*, now: datetime | None = None) -> int:
    """A reminder row for each invitation sent SURVEY_REMINDER_AFTER_DAYS ago and not
    answered; one per invitation (its primary key), so planning twice adds none."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.SURVEY_REMINDER_AFTER_DAYS)
    # Sent so long ago that its links end within REMINDER_LINK_LEFT: no reminder.
    too_old = (
        now + REMINDER_LINK_LEFT - timedelta(days=settings.SURVEY_LINK_MAX_AGE_DAYS)
    )
    ids = list(
        SurveyInvitation.objects.filter(
            status=outbox.Status.SENT,
            answered_at__isnull=True,
            reminded_at__isnull=True,
            sent_at__lte=cutoff,
            sent_at__gt=too_old,
            reminder__isnull=True,
        ).values_list("pk", flat=True)[:BATCH]
    )
    created = SurveyReminder.objects.bulk_create(
        [SurveyReminder(invitation_id=pk, next_attempt_at=now) for pk in ids],
        ignore_conflicts=True,
        batch_size=500,
    )
    return len(created)


def reminders_due(*, now: datetime | None = None) -> list[int]:
    """Reminders to send now (their invitation's id), planning new ones first."""
    reminders_plan(now=now)
    outbox.recover_stale(REMINDERS, now=now)
    return outbox.due_ids(REMINDERS, now=now, limit=BATCH)


def reminders_send(*, now: datetime | None = None) -> int:
    """Plan and send every due reminder here and now; each at most once."""
    reminders_plan(now=now)
    outbox.recover_stale(REMINDERS, now=now)
    return outbox.send_due(REMINDERS, now=now)


def reminder_send(*, invitation_id: int) -> bool:
    """Send the invitation's one reminder; a second call sends nothing."""
    return outbox.send_one(REMINDERS, invitation_id)


# Answering --------------------------------------------------------------------------


def questions_of(invitation: SurveyInvitation) -> list[SurveyQuestion]:
    return list(invitation.template.questions.order_by("position"))


@transaction.atomic
def survey_submit(
    *, invitation: SurveyInvitation, scores: dict[int, int], comment: str
) -> SurveyResponse:
    """Record an owner's answer, once; it lands on the owner's timeline."""
    locked = (
        SurveyInvitation.objects.select_for_update(of=("self",))
        .select_related("customer")
        .get(pk=invitation.pk)
    )
    if locked.answered_at is not None:
        raise AlreadyAnswered
    questions = questions_of(locked)
    index = satisfaction_index(
        (scores[q.pk], q.weight) for q in questions if q.pk in scores
    )
    response = SurveyResponse.objects.create(
        invitation=locked,
        customer=locked.customer,
        project_id=locked.project_id,
        index=index if index is not None else Decimal("0"),
        comment=comment.strip(),
    )
    SurveyAnswer.objects.bulk_create(
        SurveyAnswer(response=response, question=q, score=scores[q.pk])
        for q in questions
        if q.pk in scores
    )
    locked.answered_at = response.submitted_at
    locked.save(update_fields=["answered_at"])
    interaction_log(
        customer=locked.customer,
        kind="survey",
        channel="web",
        entry=service_events.SURVEY_ANSWERED(index=index),
        summary=response.comment[:200],
        actor=None,
        link=locked.request or locked.appointment,
    )
    webhooks.emit(
        "survey.answered",
        data={"survey_id": response.pk, "customer_id": locked.customer_id},
    )
    return response
