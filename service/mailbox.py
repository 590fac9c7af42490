"""The general manager's mailbox (总经理信箱, issue 14 item 7).

An owner writes to the general manager from the portal; the letter lands in a queue
that the executive and the service manager see, with a deadline from the mailbox
settings (a database row: 3 working days unless an administrator changes it). One of
them answers it there (answer, who, when; audited) and the owner reads the answer in
the portal and gets a message through the outbox. A letter still unanswered at its
deadline is escalated once by the service escalation sweep: a notification to every
executive and service manager, the letter marked with the time (a conditional update,
so two sweeps escalate it once).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.db.models import Aggregate, Avg, Count, DurationField, F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from crm_site.audit import audit_record
from crm_site.models import AuditEntry, User
from crm_site.notifications import notify
from crm_site.roles import Role
from customers.models import Customer
from customers.services import interaction_log
from sales.models import Opportunity, Unit
from service import events as service_events
from service.models import MailboxSettings, OwnerLetter, PortalNotice

#: Letters an owner may write in a day: each notifies everyone of the queue; more
#: is a script, not an owner (the service desk takes the rest by phone). As
#: service.portal_requests.REQUESTS_PER_DAY.
LETTERS_PER_DAY = 10

#: The roles whose queue it is (and who hear of new and overdue letters).
QUEUE_ROLES = (Role.EXECUTIVE, Role.SERVICE_MANAGER)


def add_working_days(start: datetime, days: int, *, working_only: bool) -> datetime:
    """``days`` days after ``start`` at the same local time, skipping Saturdays and
    Sundays when ``working_only`` (public holidays are not known to the CRM). A letter
    written at the weekend counts from the close of the Friday before: it is due
    with the letters of Friday night, on the last day of its working days."""
    moment = timezone.localtime(start)
    if not working_only:
        return moment + timedelta(days=days)
    if moment.weekday() >= 5:
        # The weekend's hours do not count: counted from the close of the Friday
        # before, so a letter of Saturday 00:10 is not due before one of Friday
        # 23:50 (it would otherwise get Monday, Tuesday and ten minutes of Wednesday).
        friday = moment.date() - timedelta(days=moment.weekday() - 4)
        moment = datetime.combine(friday, time(23, 59, 59), tzinfo=moment.tzinfo)
    added = 0
    while added < days:
        moment += timedelta(days=1)
        if moment.weekday() < 5:
            added += 1
    return moment


def deadline_for(written_at: datetime) -> datetime:
    config = MailboxSettings.current()
    return add_working_days(
        written_at,
        config.answer_within_days,
        working_only=config.working_days_only,
    )


def _project_id(customer: Customer, unit: Unit | None) -> int | None:
    if unit is not None:
        return unit.building.project_id
    return (
        Opportunity.objects.filter(
            # A co-buyer is an owner too (sales.CoBuyer).
            Q(customer=customer) | Q(co_buyers__customer=customer),
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


def _queue_people() -> list[User]:
    return list(
        User.objects.filter(
            is_active=True, groups__name__in=[r.value for r in QUEUE_ROLES]
        ).distinct()
    )


@transaction.atomic
def letter_write(
    *,
    owner: Customer,
    household_ids: frozenset[int],
    subject: str,
    body: str,
    unit: Unit | None = None,
) -> OwnerLetter:
    """The owner's letter: in the queue with its deadline, on the owner's timeline,
    audited, and the queue's people notified. At most LETTERS_PER_DAY in 24 hours
    (refused with a message for the form, nothing saved)."""
    from service.portal_requests import units_of_owner

    subject = " ".join(subject.split())
    body = body.strip()
    if not subject:
        raise ValidationError({"subject": _("Give your letter a subject.")})
    if not body:
        raise ValidationError({"body": _("Write your letter.")})
    if unit is not None and all(unit.pk != own.pk for own in units_of_owner(owner)):
        raise ValidationError({"unit": _("Choose one of your homes.")})
    now = timezone.now()
    # The owner's row locked: two letters posted at once are counted one after the
    # other, so the cap holds.
    Customer.objects.select_for_update().filter(pk=owner.pk).values_list("pk").get()
    written_today = OwnerLetter.objects.filter(
        customer=owner, written_at__gte=now - timedelta(days=1)
    )[:LETTERS_PER_DAY].count()
    if written_today >= LETTERS_PER_DAY:
        raise ValidationError(
            {
                NON_FIELD_ERRORS: _(
                    "You have written many letters today. Please try again tomorrow, "
                    "or call the service desk."
                )
            }
        )
    letter = OwnerLetter.objects.create(
        customer=owner,
        unit=unit,
        project_id=_project_id(owner, unit),
        subject=subject[:200],
        body=body,
        written_at=now,
        due_at=deadline_for(now),
    )
    audit_record(actor=None, instance=letter, action=AuditEntry.Action.CREATE)
    interaction_log(
        customer=owner,
        kind="system",
        channel="portal",
        entry=service_events.LETTER_WRITTEN(
            number=letter.number, subject=letter.subject
        ),
        summary=body[:200],
        actor=None,
        link=letter,
    )
    received = service_events.LETTER_RECEIVED(
        number=letter.number, subject=letter.subject
    )
    for user in _queue_people():
        notify(user=user, entry=received, target=letter)
    return letter


@transaction.atomic
def letter_answer(*, actor: User, letter: OwnerLetter, answer: str) -> OwnerLetter:
    """Answer a letter, once (the row is locked: two people answering at once cannot
    both); the owner's timeline says who answered, and a message tells the owner."""
    from service import portal_requests

    answer = answer.strip()
    if not answer:
        raise ValidationError({"answer": _("Write the answer.")})
    letter = (
        OwnerLetter.objects.select_for_update(of=("self",))
        .select_related("customer")
        .get(pk=letter.pk)
    )
    if letter.answered_at is not None:
        raise ValidationError(
            _("%(who)s answered this letter already.")
            % {"who": letter.answered_by.display_name if letter.answered_by else ""}
        )
    letter.answer = answer
    letter.answered_by = actor
    letter.answered_at = timezone.now()
    letter.save(update_fields=["answer", "answered_by", "answered_at"])
    audit_record(
        actor=actor,
        instance=letter,
        action=AuditEntry.Action.UPDATE,
        changes={
            "answer": {"old": "", "new": answer[:200]},
            "answered_by": {"old": "", "new": actor.display_name},
        },
    )
    interaction_log(
        customer=letter.customer,
        kind="system",
        entry=service_events.LETTER_ANSWERED(
            number=letter.number, who=actor.display_name
        ),
        actor=actor,
        link=letter,
    )
    notice, created = PortalNotice.objects.get_or_create(letter=letter)
    if created:
        portal_requests.queue(notice)
    return letter


def letters_escalate(*, now: datetime | None = None) -> int:
    """Escalate each unanswered letter past its deadline once: marked (a conditional
    update, so a second sweep or a concurrent one skips it) and everyone in the queue
    notified, in one transaction per letter."""
    now = now or timezone.now()
    late = list(
        OwnerLetter.objects.filter(
            answered_at__isnull=True, escalated_at__isnull=True, due_at__lt=now
        )
        .order_by("due_at", "pk")
        .values_list("pk", "written_at")[:1000]
    )
    people = _queue_people() if late else []
    raised = 0
    for pk, written_at in late:
        with transaction.atomic():
            if not OwnerLetter.objects.filter(
                pk=pk, answered_at__isnull=True, escalated_at__isnull=True
            ).update(escalated_at=now):
                continue
            letter = OwnerLetter(pk=pk, written_at=written_at)
            for user in people:
                notify(
                    user=user,
                    entry=service_events.LETTER_OVERDUE(number=letter.number),
                    url=letter.get_absolute_url(),
                )
            raised += 1
    return raised


# The queue and the figures ----------------------------------------------------------

VIEWS = ("open", "overdue", "answered", "all")


def letter_queue(
    view: str,
    *,
    project_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    now=None,
) -> QuerySet:
    """The letters of a queue view, in the order the page shows them: what is due
    first while unanswered, the latest answered first otherwise. ``since`` /
    ``until``: written in that window (the overview's figure links with it)."""
    now = now or timezone.now()
    letters = OwnerLetter.objects.select_related(
        "customer", "unit__building", "answered_by"
    )
    if project_id:
        letters = letters.filter(project_id=project_id)
    if since is not None:
        letters = letters.filter(written_at__gte=since)
    if until is not None:
        letters = letters.filter(written_at__lt=until)
    if view == "overdue":
        return letters.filter(answered_at__isnull=True, due_at__lt=now).order_by(
            "due_at", "pk"
        )
    if view == "answered":
        return letters.filter(answered_at__isnull=False).order_by("-answered_at", "-pk")
    if view == "all":
        return letters.order_by("-written_at", "-pk")
    return letters.filter(answered_at__isnull=True).order_by("due_at", "pk")


class Median(Aggregate):
    """PostgreSQL's median of a duration (percentile_cont works on intervals)."""

    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = DurationField()


@dataclass(frozen=True)
class LetterFigures:
    received: int
    answered: int
    answered_late: int
    overdue: int
    open: int
    median_hours: float | None
    average_hours: float | None


def _hours(duration: timedelta | None) -> float | None:
    return round(duration.total_seconds() / 3600, 1) if duration is not None else None


def letter_figures(
    *, since: datetime, until: datetime, project_id: int | None = None, now=None
) -> LetterFigures:
    """Letters written in the period: how many, how many answered (and of those
    after their deadline), the median and average time to answer; and of now, how
    many are unanswered and how many of those overdue. One query."""
    now = now or timezone.now()
    letters = OwnerLetter.objects.all()
    if project_id:
        letters = letters.filter(project_id=project_id)
    took = F("answered_at") - F("written_at")
    written = Q(written_at__gte=since, written_at__lt=until)
    answered = written & Q(answered_at__isnull=False)
    waiting = Q(answered_at__isnull=True)
    # One pass: the period's letters and the ones waiting now (letter_open_due_idx).
    figures = letters.filter(written | waiting).aggregate(
        received=Count("id", filter=written),
        answered=Count("id", filter=answered),
        answered_late=Count("id", filter=answered & Q(answered_at__gt=F("due_at"))),
        median=Median(took, filter=answered),
        average=Avg(took, filter=answered),
        open=Count("id", filter=waiting),
        overdue=Count("id", filter=waiting & Q(due_at__lt=now)),
    )
    period = live = figures
    return LetterFigures(
        received=period["received"],
        answered=period["answered"],
        answered_late=period["answered_late"],
        overdue=live["overdue"],
        open=live["open"],
        median_hours=_hours(period["median"]),
        average_hours=_hours(period["average"]),
    )


def letters_of_owner(owner_id: int) -> QuerySet[OwnerLetter]:
    """The letters the owner wrote. A letter to the general manager is its writer's
    own: another member of the household does not read it, nor its answer."""
    return OwnerLetter.objects.filter(customer_id=owner_id)
