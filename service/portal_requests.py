"""Repairs and complaints from the owners' portal (issue 14, item 4).

An owner submits a request for one of their household's units; it enters the service
desk's queue with channel "portal" and no receiver. The agent who accepts it (a row
lock: two agents cannot both) becomes its first receiver (首问负责制) and works it as
any other. Every step the desk takes is announced to the owner by a message through
the one outbox (a row per step, then a task). At the callback step the owner confirms
the fix (the request closes) or rejects it (it reopens exactly as a staff callback's
"not satisfied" does), and rates it with the satisfaction survey of closed requests,
so the rating counts in every satisfaction figure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm_site import outbox
from crm_site.audit import audit_change, snapshot
from crm_site.models import User
from customers.models import Customer
from sales.models import Unit
from sales.portal import owner_unit_ids
from service import events as service_events
from service import outreach
from service.models import (
    PortalNotice,
    ServiceRequest,
    ServiceStep,
    SurveyInvitation,
    SurveyResponse,
)

#: Photos an owner may send with a request (the staff side takes 10 at a time).
MAX_PHOTOS = 6
#: Kinds an owner may submit.
OWNER_KINDS = (ServiceRequest.Kind.REPAIR, ServiceRequest.Kind.COMPLAINT)
#: After confirming the fix the owner may rate it in the portal for this long before
#: the survey goes out by message (it is not sent once answered).
RATING_GRACE = timedelta(days=1)
#: Requests an owner may send in the portal in a day: each may carry MAX_PHOTOS
#: photos of 10 MB and lands in every agent's queue; more is a script, not a
#: household's problems (the desk takes more by phone).
REQUESTS_PER_DAY = 10


def owner_units(deal_ids: Iterable[int]) -> list[Unit]:
    """The units of the owner's own bought deals (``request.owner_deal_ids``): not
    another home a co-buyer bought with someone else. One query."""
    return list(
        Unit.objects.filter(pk__in=owner_unit_ids(deal_ids))
        .select_related("building__project")
        .order_by("building__project__name", "building__name", "number", "pk")
    )


def units_of_owner(owner: Customer) -> list[Unit]:
    """The units the owner bought (subscribed, contracted or paid deals), as buyer
    or co-buyer: what a request or a letter from them may be about."""
    from service.services import units_owned_by

    return units_owned_by([owner.pk]).get(owner.pk, [])


def owners_requests(
    *, owner_id: int, household_ids: frozenset[int], deal_ids: Iterable[int]
) -> QuerySet[ServiceRequest]:
    """The requests the owner follows: those of their household about the owner's
    own homes, whoever of the household reported them and whatever the channel, and
    every request the owner reported themselves. A co-buyer's requests about another
    home, bought with someone else, are not the owner's."""
    return ServiceRequest.objects.filter(
        Q(customer_id__in=household_ids, unit_id__in=owner_unit_ids(deal_ids))
        | Q(customer_id=owner_id)
    )


@transaction.atomic
def portal_request_submit(
    *,
    owner: Customer,
    household_ids: frozenset[int],
    unit: Unit | None,
    kind: str,
    category: str,
    description: str,
    photos: list | None = None,
) -> ServiceRequest:
    """The owner's request from the portal, with its photos, or nothing at all.

    The unit must be one the owner bought (as buyer or co-buyer), not merely one of
    their household's; the deadlines are those of its category at normal severity,
    as for a request the desk records. ValidationErrors are keyed by form field."""
    from service.services import photos_add, request_create

    photos = photos or []
    if kind not in OWNER_KINDS:
        raise ValidationError({"kind": _("Choose a repair or a complaint.")})
    if unit is None or all(unit.pk != own.pk for own in units_of_owner(owner)):
        raise ValidationError({"unit": _("Choose one of your homes.")})
    if not description.strip():
        raise ValidationError({"description": _("Describe the problem.")})
    if len(photos) > MAX_PHOTOS:
        raise ValidationError(
            {"photos": _("At most %(count)s photos at a time.") % {"count": MAX_PHOTOS}}
        )
    # The owner's row locked, as for a GM letter (mailbox.letter_write): two
    # requests sent at once are counted one after the other, so the cap holds.
    Customer.objects.select_for_update().filter(pk=owner.pk).values_list("pk").get()
    sent_today = ServiceRequest.objects.filter(
        customer=owner,
        channel=ServiceRequest.Channel.PORTAL,
        received_at__gte=timezone.now() - timedelta(days=1),
    )[:REQUESTS_PER_DAY].count()
    if sent_today >= REQUESTS_PER_DAY:
        raise ValidationError(
            {
                NON_FIELD_ERRORS: _(
                    "You have sent many requests today. Please try again tomorrow, "
                    "or call the service desk."
                )
            }
        )
    request = request_create(
        actor=None,
        customer=owner,
        unit=unit,
        kind=kind,
        category=category,
        severity="normal",
        channel=ServiceRequest.Channel.PORTAL,
        description=description,
    )
    photos_add(actor=None, request=request, files=photos)
    return request


def unaccepted() -> QuerySet[ServiceRequest]:
    """Portal requests waiting for an agent (request_unaccepted_idx)."""
    return ServiceRequest.objects.filter(
        channel=ServiceRequest.Channel.PORTAL, receiver__isnull=True
    )


@transaction.atomic
def request_accept(*, actor: User, request: ServiceRequest) -> ServiceRequest:
    """The agent takes the owner's portal request and becomes its first receiver.

    The row is locked, so of two agents accepting at once one wins and the other is
    told who has it; accepting one's own request again changes nothing."""
    from service.services import _locked

    request = _locked(request)
    if request.receiver_id is not None:
        if request.receiver_id == actor.pk:
            return request
        raise ValidationError(
            _("%(who)s has already accepted this request.")
            % {"who": request.receiver.display_name}
        )
    before = snapshot(request, ["receiver"])
    request.receiver = actor
    request.accepted_at = timezone.now()
    request.save(update_fields=["receiver", "accepted_at"])
    audit_change(actor=actor, instance=request, before=before)
    accepted = service_events.ACCEPTED(who=actor.display_name)
    step = ServiceStep.objects.create(
        request=request,
        from_status=request.status,
        to_status=request.status,
        actor=actor,
        event=accepted.code,
        params=accepted.params,
    )
    notice_for_step(step)
    return request


def _owners_request(household_ids: frozenset[int], pk: int) -> ServiceRequest:
    """The household's request, locked; DoesNotExist outside the household."""
    return (
        ServiceRequest.objects.select_for_update(of=("self",))
        .select_related("customer")
        .get(pk=pk, customer_id__in=household_ids)
    )


@transaction.atomic
def portal_request_confirm(
    *, household_ids: frozenset[int], request: ServiceRequest, note: str = ""
) -> ServiceRequest:
    """The owner says the fix works: the callback is recorded as satisfied and the
    request closes (the owner's word ends the receiver's accountability); the
    satisfaction survey waits RATING_GRACE for the owner to rate it in the portal."""
    from service.services import callback_record, request_close

    request = _owners_request(household_ids, request.pk)
    callback_record(
        actor=None,
        request=request,
        satisfied=True,
        note=note.strip()[:300],
        satisfied_because=service_events.OWNER_CONFIRMED_FIX(),
        not_satisfied=None,
    )
    return request_close(actor=None, request=request, survey_after=RATING_GRACE)


@transaction.atomic
def portal_request_reject(
    *, household_ids: frozenset[int], request: ServiceRequest, note: str
) -> ServiceRequest:
    """The owner says the problem is not solved: the request reopens exactly as when
    the owner tells the receiver so at the callback (reopened, counted, escalated to
    the service manager)."""
    from service.services import callback_record

    note = note.strip()[:300]
    if not note:
        raise ValidationError({"note": _("Tell us what is still wrong.")})
    request = _owners_request(household_ids, request.pk)
    return callback_record(
        actor=None,
        request=request,
        satisfied=False,
        note=note,
        not_satisfied=service_events.OWNER_REJECTED_FIX(),
    )


def rating_invitation(request: ServiceRequest) -> SurveyInvitation | None:
    """The survey the owner may still answer for this request in the portal."""
    if request.status != ServiceRequest.Status.CLOSED:
        return None
    return (
        SurveyInvitation.objects.filter(request=request, answered_at__isnull=True)
        .select_related("template")
        .first()
    )


def rating_of(request: ServiceRequest) -> SurveyResponse | None:
    """The owner's answer to the request's satisfaction survey (their rating), if any."""
    if request.status != ServiceRequest.Status.CLOSED:
        return None
    return SurveyResponse.objects.filter(invitation__request=request).first()


@transaction.atomic
def portal_request_rate(
    *,
    household_ids: frozenset[int],
    request: ServiceRequest,
    scores: dict[int, int],
    comment: str = "",
) -> SurveyResponse:
    """The owner's rating: the request's satisfaction survey, answered in the portal
    (so it counts in the satisfaction index like any answer), and a step saying so.
    Raises surveys.AlreadyAnswered when it was answered before."""
    from service import surveys

    request = _owners_request(household_ids, request.pk)
    invitation = SurveyInvitation.objects.filter(request=request).first()
    if request.status != ServiceRequest.Status.CLOSED or invitation is None:
        raise ValidationError(_("A request is rated once it is closed."))
    questions = {q.pk for q in surveys.questions_of(invitation)}
    if set(scores) != questions or any(not 1 <= s <= 5 for s in scores.values()):
        raise ValidationError(_("Give every question a score from 1 to 5."))
    response = surveys.survey_submit(
        invitation=invitation, scores=scores, comment=comment
    )
    rated = service_events.RATED(index=response.index)
    ServiceStep.objects.create(
        request=request,
        from_status=request.status,
        to_status=request.status,
        event=rated.code,
        params=rated.params,
    )
    return response


# What the owner reads ---------------------------------------------------------------

Status = ServiceRequest.Status

#: Each status in the owner's words.
OWNER_WORDS = {
    Status.RECEIVED: gettext_lazy("Received: the service desk has it"),
    Status.ASSIGNED: gettext_lazy("Handed to the team that fixes it"),
    Status.IN_PROGRESS: gettext_lazy("Being worked on"),
    Status.RESOLVED: gettext_lazy("Fixed: please tell us whether it is solved"),
    Status.CALLED_BACK: gettext_lazy("You told us it is solved"),
    Status.CLOSED: gettext_lazy("Closed"),
}
WAITING_WORDS = gettext_lazy("Sent: waiting for the service desk to accept it")
REOPENED_WORDS = gettext_lazy("Not solved yet: being worked on again")
ACCEPTED_WORDS = gettext_lazy("Accepted by the service desk, who stays responsible")

#: Step events the owner is told about, in their words (the rest is the desk's own).
STEP_WORDS = {
    "service.accepted": ACCEPTED_WORDS,
    "service.photos_added": gettext_lazy("Photos added"),
    "service.work_order_scheduled": gettext_lazy("A visit was arranged"),
    "service.work_order_signed_off": gettext_lazy("The work was done"),
    "service.rated": gettext_lazy("You rated the service"),
}


def owner_status(request: ServiceRequest) -> str:
    if request.receiver_id is None and request.status == Status.RECEIVED:
        return str(WAITING_WORDS)
    return str(OWNER_WORDS[request.status])


@dataclass(frozen=True)
class OwnerStep:
    at: datetime
    words: str
    #: What the desk wrote when it resolved it, or what the owner wrote.
    note: str = ""


def owner_steps(
    request: ServiceRequest, *, reader_id: int | None = None
) -> list[OwnerStep]:
    """The request's steps in plain words, oldest first, as the owner ``reader_id``
    reads them (None: the owner who sent it); one query. Internal notes stay
    internal: only what the owner wrote and what the desk said it did show."""
    result = [OwnerStep(at=request.received_at, words=_first_words(request, reader_id))]
    for step in request.steps.order_by("at", "pk"):
        if step.from_status != step.to_status:
            reopened = step.from_status in (
                Status.RESOLVED,
                Status.CALLED_BACK,
            ) and step.to_status in (Status.IN_PROGRESS,)
            words = REOPENED_WORDS if reopened else OWNER_WORDS[step.to_status]
            shown = step.actor_id is None or step.to_status == Status.RESOLVED
            result.append(
                OwnerStep(at=step.at, words=str(words), note=step.note if shown else "")
            )
        elif step.event in STEP_WORDS:
            result.append(OwnerStep(at=step.at, words=str(STEP_WORDS[step.event])))
    return result


def _first_words(request: ServiceRequest, reader_id: int | None) -> str:
    """How the request came in: a household member reading another's request is
    told who sent it (its sender's row, select_related by the portal's views)."""
    if request.channel != ServiceRequest.Channel.PORTAL:
        return _("Recorded by the service desk")
    if reader_id is None or reader_id == request.customer_id:
        return _("You sent it in the portal")
    return _("%(name)s sent it in the portal") % {"name": request.customer.name}


# Messages to the owner ----------------------------------------------------------------


def notice_for_step(step: ServiceStep) -> PortalNotice | None:
    """A message to the owner about a step the desk took on their portal request: a
    row now (once per step), a task after commit. The owner's own acts (confirm,
    reject, rate) are not announced back to them."""
    if step.actor_id is None:
        return None
    notice, created = PortalNotice.objects.get_or_create(
        step=step, defaults={"request_id": step.request_id}
    )
    if created:
        queue(notice)
    return notice


def queue(notice: PortalNotice) -> None:
    from service import tasks

    outreach.queue_on_commit(tasks.portal_notice_send, notice.pk)


def portal_link(url_name: str, pk: int) -> str:
    """The owner's page in the portal, for a message."""
    try:
        path = reverse(url_name, args=[pk])
    except NoReverseMatch:  # a deployment without the portal's pages
        path = "/"
    return f"{settings.PUBLIC_BASE_URL}{path}"


def _compose(notice: PortalNotice) -> tuple[str, str]:
    if notice.letter_id is not None:
        letter = notice.letter
        return str(_("Anju GM mailbox")), _(
            "Dear %(name)s, the general manager's office has answered your letter "
            "%(number)s. Read the answer: %(link)s"
        ) % {
            "name": letter.customer.name,
            "number": letter.number,
            "link": portal_link("service_portal:letter-detail", letter.pk),
        }
    request = notice.request
    step = notice.step
    if step.event == service_events.ACCEPTED.code:
        words = ACCEPTED_WORDS
    elif step.from_status in (Status.RESOLVED, Status.CALLED_BACK):
        words = REOPENED_WORDS
    else:
        words = OWNER_WORDS[step.to_status]
    return str(_("Anju service")), _(
        "Dear %(name)s, your %(kind)s %(number)s: %(words)s. Details: %(link)s"
    ) % {
        "name": request.customer.name,
        "kind": request.get_kind_display(),
        "number": request.number,
        "words": words,
        "link": portal_link("service_portal:request-detail", request.pk),
    }


class NoticeKind(outbox.OutboxKind):
    name = "service.portal_notice"
    label = gettext_lazy("Portal request and letter messages")
    model = PortalNotice

    def rows(self):
        return PortalNotice.objects.select_related(
            "request__customer", "step", "letter__customer"
        )

    def compose(self, row: PortalNotice) -> outbox.Message | None:
        customer = row.letter.customer if row.letter_id else row.request.customer
        return outreach.message_to(customer, *_compose(row))

    def describe(self, row: PortalNotice) -> str:
        if row.letter_id:
            return f"{row.letter.customer} · {row.letter.number}"
        return f"{row.request.customer} · {row.request.number}"


NOTICES = NoticeKind()


def notice_send(*, notice_id: int) -> bool:
    """Send one message; a second call, or a concurrent one, sends nothing."""
    return outbox.send_one(NOTICES, notice_id)


def notices_pending(*, now=None) -> list[int]:
    """Messages still to send (their task was lost, or a retry is due); interrupted
    sends are settled first."""
    outbox.recover_stale(NOTICES, now=now)
    return outbox.due_ids(NOTICES, now=now)
