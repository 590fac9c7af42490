"""Service desk use cases: record, hand over, resolve, call back, close, escalate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from crm_site import webhooks
from crm_site.audit import audit_change, audit_record, audited_update, snapshot
from crm_site.models import AuditEntry, User
from crm_site.notifications import notify
from crm_site.roles import Role
from customers.models import Customer
from customers.services import (
    DuplicateCustomer,
    customer_create,
    customer_find_by_phone,
    interaction_log,
)
from sales.models import Opportunity, Unit
from service import events as service_events
from service.models import (
    DEFAULT_HOURS,
    DeadlineRule,
    Escalation,
    RequestPhoto,
    ServiceRequest,
    ServiceStep,
)
from service.surveys import invitation_for_request

# Rungs of the ladder: (level, hours past the deadline).
LADDER = [
    (Escalation.Level.HANDLER, 0),
    (Escalation.Level.MANAGER, 24),
    (Escalation.Level.EXECUTIVE, 72),
]


def deadlines_for(*, category: str, severity: str) -> tuple[int, int]:
    rule = (
        DeadlineRule.objects.filter(severity=severity, category__in=[category, ""])
        .order_by("-category")
        .first()
    )
    if rule is not None:
        return rule.response_hours, rule.resolution_hours
    return DEFAULT_HOURS[severity]


#: Deal stages at which the buyer owns the unit: subscribed, contracted, paid in full
#: (handed-over units stay at the last of these).
OWNING_STAGES = (
    Opportunity.Stage.SUBSCRIBED,
    Opportunity.Stage.CONTRACTED,
    Opportunity.Stage.PAID,
)


def units_owned_by(customer_ids: list[int]) -> dict[int, list[Unit]]:
    """Each customer's units (subscribed, contracted or paid deals), as buyer or as
    co-buyer (共同购房人: an owner for service too), in one query whatever the
    number of customers (opp_customer_idx, co_buyer_customer_idx)."""
    owned: dict[int, list[Unit]] = {}
    if not customer_ids:
        return owned
    wanted = set(customer_ids)
    deals = (
        Opportunity.objects.filter(
            Q(customer_id__in=customer_ids)
            | Q(co_buyers__customer_id__in=customer_ids),
            stage__in=OWNING_STAGES,
            unit__isnull=False,
        )
        # One row per deal and co-buyer: the filter's join, so a deal with two
        # co-buyers of the list gives each of them the unit.
        .annotate(co_buyer_id=F("co_buyers__customer_id"))
        .select_related("unit__building__project")
        .order_by(
            "unit__building__project__name",
            "unit__building__name",
            "unit__number",
            "pk",
        )
    )
    for deal in deals:
        for customer_id in (deal.customer_id, deal.co_buyer_id):
            if customer_id not in wanted:
                continue
            units = owned.setdefault(customer_id, [])
            if all(unit.pk != deal.unit_id for unit in units):
                units.append(deal.unit)
    return owned


def owner_units(customer: Customer) -> list[Unit]:
    """Units the customer bought or co-bought (subscribed, contracted or paid deals)."""
    return units_owned_by([customer.pk]).get(customer.pk, [])


def is_owner(customer: Customer, units: list[Unit]) -> bool:
    """A buyer or owner: a unit on record, or the stage sales moved them to."""
    return bool(units) or customer.stage in (
        Customer.Stage.BUYER,
        Customer.Stage.OWNER,
    )


# The source a caller registered at intake is given, by the channel of the call.
SOURCE_OF_CHANNEL = {
    ServiceRequest.Channel.PHONE: Customer.Source.PHONE,
    ServiceRequest.Channel.WALK_IN: Customer.Source.WALK_IN,
    ServiceRequest.Channel.WECHAT: Customer.Source.WECHAT,
    ServiceRequest.Channel.WEB: Customer.Source.WEB,
    ServiceRequest.Channel.PROPERTY: Customer.Source.OTHER,
}


@dataclass(frozen=True)
class Intake:
    """What recording a caller's request did."""

    request: ServiceRequest
    #: The caller was not on record: registered as a new customer.
    registered: bool
    #: The caller owns no unit: recorded as an enquiry (咨询) whatever kind was chosen.
    as_enquiry: bool


@transaction.atomic
def request_intake(
    *,
    actor: User,
    caller: Customer | None,
    new_name: str = "",
    new_mobile: str = "",
    unit: Unit | None,
    kind: str,
    category: str,
    severity: str,
    channel: str,
    description: str,
    photos: list | None = None,
) -> Intake:
    """One-stop intake (首问负责制): whoever takes the call records it, for any caller.

    A caller not on record is registered (name and E.164 mobile, through
    customers.services, so the duplicate rules hold); a caller who owns nothing is
    recorded as an enquiry, never refused. A repair needs one of the caller's units;
    the only one is taken when none is given. All of it, photos included, or nothing:
    a ValidationError keyed by form field leaves no row behind.
    """
    registered = False
    if caller is None:
        name = " ".join(new_name.split())
        if not name:
            raise ValidationError(
                {"name": _("Enter the caller's name: they are registered with it.")}
            )
        # Another desk may have registered the number since the form was shown.
        caller = customer_find_by_phone(new_mobile)
        if caller is None:
            try:
                caller = customer_create(
                    actor=actor,
                    name=name,
                    mobile=new_mobile,
                    source=SOURCE_OF_CHANNEL.get(channel, Customer.Source.OTHER),
                )
                registered = True
            except DuplicateCustomer as exc:
                caller = exc.existing
    units = owner_units(caller)
    as_enquiry = False
    if not is_owner(caller, units):
        as_enquiry = kind != ServiceRequest.Kind.INQUIRY
        kind = ServiceRequest.Kind.INQUIRY
    if unit is None and len(units) == 1:
        unit = units[0]
    if unit is not None and all(unit.pk != owned.pk for owned in units):
        raise ValidationError({"unit": _("Pick one of the caller's units.")})
    if kind == ServiceRequest.Kind.REPAIR and unit is None:
        raise ValidationError(
            {
                "unit": _("A repair needs the unit: pick one of the caller's units.")
                if units
                else _(
                    "No unit is on record for this caller, and a repair needs one: "
                    "record it as a complaint or an enquiry."
                )
            }
        )
    request = request_create(
        actor=actor,
        customer=caller,
        unit=unit,
        kind=kind,
        category=category,
        severity=severity,
        channel=channel,
        description=description,
    )
    photos_add(actor=actor, request=request, files=photos or [])
    return Intake(request=request, registered=registered, as_enquiry=as_enquiry)


@transaction.atomic
def request_create(
    *,
    actor: User | None,
    customer: Customer,
    kind: str,
    category: str,
    severity: str,
    channel: str,
    description: str,
    unit: Unit | None = None,
) -> ServiceRequest:
    """Record a request; whoever records it is its accountable receiver (首问负责制).

    actor None: the owner submitted it in the portal (channel "portal"); it has no
    receiver until an agent accepts it (service.portal_requests.request_accept)."""
    portal = channel == ServiceRequest.Channel.PORTAL
    if (actor is None) != portal:
        raise ValueError("a portal request, and only one, is recorded without a user")
    now = timezone.now()
    response_hours, resolution_hours = deadlines_for(
        category=category, severity=severity
    )
    request = ServiceRequest.objects.create(
        kind=kind,
        customer=customer,
        unit=unit,
        category=category,
        severity=severity,
        channel=channel,
        description=description.strip(),
        receiver=actor,
        received_at=now,
        response_due=now + timedelta(hours=response_hours),
        resolution_due=now + timedelta(hours=resolution_hours),
    )
    audit_record(actor=actor, instance=request, action=AuditEntry.Action.CREATE)
    recorded = (
        service_events.PORTAL_REQUEST_SUBMITTED
        if portal
        else service_events.REQUEST_RECORDED
    )
    interaction_log(
        customer=customer,
        kind="complaint" if kind == ServiceRequest.Kind.COMPLAINT else "system",
        channel={
            ServiceRequest.Channel.PHONE: "phone",
            ServiceRequest.Channel.PORTAL: "portal",
        }.get(channel, ""),
        entry=recorded(kind=kind, number=request.number),
        summary=request.description[:200],
        actor=actor,
        link=request,
    )
    webhooks.emit(
        "service_request.created",
        data={
            "service_request_id": request.pk,
            "number": request.number,
            "customer_id": customer.pk,
            "unit_id": unit.pk if unit is not None else None,
            "kind": kind,
            "channel": channel,
        },
    )
    return request


@transaction.atomic
def photos_add(*, actor: User | None, request: ServiceRequest, files: list) -> int:
    """Keep photos of the problem on the request: all of them or none, a step saying
    how many, and an audit entry. actor None: the owner's, from the portal."""
    if not files:
        return 0
    before = request.photos.count()
    RequestPhoto.objects.bulk_create(
        RequestPhoto(request=request, file=f, uploaded_by=actor) for f in files
    )
    added = service_events.PHOTOS_ADDED(count=len(files))
    ServiceStep.objects.create(
        request=request,
        from_status=request.status,
        to_status=request.status,
        actor=actor,
        event=added.code,
        params=added.params,
    )
    audit_record(
        actor=actor,
        instance=request,
        action=AuditEntry.Action.UPDATE,
        changes={"photos": {"old": before, "new": before + len(files)}},
    )
    return len(files)


def _locked(request: ServiceRequest) -> ServiceRequest:
    return (
        ServiceRequest.objects.select_for_update(of=("self",))
        .select_related("customer")
        .get(pk=request.pk)
    )


def must_be_accepted(request: ServiceRequest) -> None:
    """Work starts once someone is accountable: a portal request is accepted first."""
    if request.receiver_id is None:
        raise ValidationError(
            _(
                "Accept this request from the owners' portal first: whoever accepts "
                "it becomes its first receiver."
            )
        )


@transaction.atomic
def request_assign(
    *,
    actor: User,
    request: ServiceRequest,
    department: str,
    handler: User | None,
    note: str = "",
) -> ServiceRequest:
    """Hand the work to a department (and a person there). The receiver stays accountable."""
    request = _locked(request)
    must_be_accepted(request)
    before = snapshot(request, ["department", "handler"])
    request.department = department
    request.handler = handler
    request.save(update_fields=["department", "handler"])
    audit_change(actor=actor, instance=request, before=before)
    request.move_to(
        ServiceRequest.Status.ASSIGNED,
        actor=actor,
        note=note,
        because=service_events.HANDED_TO(who={"department": department}),
        department=department,
    )
    if handler is not None and handler != actor:
        notify(
            user=handler,
            entry=service_events.HANDED_TO_YOU(number=request.number),
            target=request,
        )
    return request


@transaction.atomic
def request_start(*, actor: User, request: ServiceRequest) -> ServiceRequest:
    """Start the work on a request still at the desk or handed over. A resolved or
    called-back request goes back to work only through a "not satisfied" callback
    (counted as a reopening, told to the manager): a stale "Start work" button
    pressed after a colleague resolved it must not skip the callback."""
    request = _locked(request)
    must_be_accepted(request)
    if request.status not in (
        ServiceRequest.Status.RECEIVED,
        ServiceRequest.Status.ASSIGNED,
        ServiceRequest.Status.IN_PROGRESS,
    ):
        raise ValidationError(
            _(
                "This request is %(status)s: it goes back to work only when the "
                "owner is not satisfied at the callback."
            )
            % {"status": request.get_status_display()}
        )
    request.move_to(ServiceRequest.Status.IN_PROGRESS, actor=actor)
    return request


@transaction.atomic
def request_resolve(
    *, actor: User, request: ServiceRequest, note: str
) -> ServiceRequest:
    request = _locked(request)
    if request.status == ServiceRequest.Status.RESOLVED:
        # A colleague resolved it a moment ago (two clicks at once, a stale page):
        # said so, and the receiver is not told a second time.
        raise ValidationError(
            _("This request was marked resolved already: call the owner back.")
        )
    if request.work_orders.filter(status__in=["open", "scheduled"]).exists():
        raise ValidationError(
            _("Sign off or cancel the open work orders before resolving.")
        )
    request.move_to(ServiceRequest.Status.RESOLVED, actor=actor, note=note)
    if request.receiver_id != actor.pk:
        notify(
            user=request.receiver,
            entry=service_events.RESOLVED_CALL_BACK(number=request.number),
            target=request,
        )
    return request


def _may_call_back(actor: User, request: ServiceRequest) -> bool:
    return actor.pk == request.receiver_id or actor.has_perm("service.manage_service")


@transaction.atomic
def request_callback(
    *, actor: User, request: ServiceRequest, satisfied: bool, note: str
) -> ServiceRequest:
    """The receiver calls the owner back (回访). Not satisfied: the request reopens and
    goes to the service manager."""
    request = _locked(request)
    if not _may_call_back(actor, request):
        raise PermissionDenied(_("The accountable receiver makes the callback."))
    return callback_record(
        actor=actor,
        request=request,
        satisfied=satisfied,
        note=note,
        not_satisfied=service_events.OWNER_NOT_SATISFIED(),
    )


def callback_record(
    *,
    actor: User | None,
    request: ServiceRequest,
    satisfied: bool,
    note: str,
    satisfied_because=None,
    not_satisfied,
) -> ServiceRequest:
    """The owner's word on the fix, on a locked request: given at a callback by the
    receiver, or by the owner in the portal (actor None). Not satisfied reopens it,
    counts the reopening and escalates to the service manager, whoever reported it."""
    if request.status != ServiceRequest.Status.RESOLVED:
        raise ValidationError(_("Call back once the request is resolved."))
    before = snapshot(request, ["satisfied", "callback_note"])
    request.satisfied = satisfied
    request.callback_note = note
    request.save(update_fields=["satisfied", "callback_note"])
    audit_change(actor=actor, instance=request, before=before)
    if satisfied:
        request.move_to(
            ServiceRequest.Status.CALLED_BACK,
            actor=actor,
            note=note,
            because=satisfied_because,
        )
        return request
    request.reopen_count += 1
    request.reopened_at = timezone.now()
    request.save(update_fields=["reopen_count", "reopened_at"])
    request.move_to(
        ServiceRequest.Status.IN_PROGRESS,
        actor=actor,
        note=note,
        because=not_satisfied,
    )
    if not _escalate(
        request, Escalation.Level.MANAGER, Escalation.Reason.NOT_SATISFIED
    ):
        # The rung was climbed before (overdue, or an earlier "not satisfied"): its
        # row stays one, but the managers hear of every unhappy owner.
        for user in _people(Escalation.Level.MANAGER, request):
            notify(
                user=user,
                entry=service_events.ESCALATED(
                    level=Escalation.Level.MANAGER,
                    number=request.number,
                    reason=Escalation.Reason.NOT_SATISFIED,
                ),
                target=request,
            )
    # The one who fixed it works on it again: told, as the manager is.
    worker = request.handler or request.receiver
    if worker is not None and worker != actor:
        notify(
            user=worker,
            entry=service_events.REOPENED_FOR_YOU(number=request.number),
            target=request,
        )
    return request


@transaction.atomic
def request_close(
    *, actor: User | None, request: ServiceRequest, survey_after=None
) -> ServiceRequest:
    """Close after a satisfied callback. actor None: the owner confirmed the fix in
    the portal; ``survey_after`` then gives them time to rate it there before the
    survey goes out by message."""
    request = _locked(request)
    if request.status != ServiceRequest.Status.CALLED_BACK or not request.satisfied:
        raise ValidationError(
            _(
                "A request is closed only after a callback in which the owner was satisfied."
            )
        )
    request.move_to(ServiceRequest.Status.CLOSED, actor=actor)
    # The satisfaction survey is a row in the same transaction; the beat job sends it.
    invitation_for_request(request, due_after=survey_after)
    return request


def _people(level: int, request: ServiceRequest) -> list[User]:
    if level == Escalation.Level.HANDLER:
        for worker in (request.handler, request.receiver):
            if worker is not None and worker.is_active:
                return [worker]
        # A portal request nobody accepted, or whose people have left: the whole desk
        # hears of it; with nobody at the desk, its managers.
        agents = list(
            User.objects.filter(
                is_active=True, groups__name=Role.SERVICE_AGENT.value
            ).distinct()
        )
        if agents:
            return agents
    role = (
        Role.EXECUTIVE if level == Escalation.Level.EXECUTIVE else Role.SERVICE_MANAGER
    )
    return list(User.objects.filter(is_active=True, groups__name=role.value).distinct())


def _escalate(request: ServiceRequest, level: int, reason: str) -> bool:
    escalation, created = Escalation.objects.get_or_create(
        request=request, level=level, defaults={"reason": reason}
    )
    if not created:
        return False
    audited_update(
        ServiceRequest.objects.filter(pk=request.pk, escalation_level__lt=level),
        actor=None,
        escalation_level=level,
    )
    for user in _people(level, request):
        notify(
            user=user,
            entry=service_events.ESCALATED(
                level=level, number=request.number, reason=escalation.reason
            ),
            target=request,
        )
    return True


def _resolve_by(request: ServiceRequest):
    """When the ladder counts the request late for its fix: its resolution deadline,
    or, once an owner not satisfied reopened it, a fresh resolution window from then
    (the deadline stays the request's first commitment, for the figures; the time it
    waited for its callback is not the handler's lateness)."""
    if request.reopened_at is None:
        return request.resolution_due
    _response, resolution_hours = deadlines_for(
        category=request.category, severity=request.severity
    )
    return max(
        request.resolution_due,
        request.reopened_at + timedelta(hours=resolution_hours),
    )


def escalations_sweep(*, now=None) -> int:
    """Raise overdue requests up the ladder. A row per request and level: running it
    twice, or after a crash, raises each level once. Letters to the general manager
    past their deadline are escalated by the same sweep (service.mailbox)."""
    from service.mailbox import letters_escalate

    now = now or timezone.now()
    raised = letters_escalate(now=now)
    working = (
        ServiceRequest.Status.RECEIVED,
        ServiceRequest.Status.ASSIGNED,
        ServiceRequest.Status.IN_PROGRESS,
    )
    overdue = (
        ServiceRequest.objects.filter(status__in=working)
        .filter(
            Q(resolution_due__lt=now)
            | Q(status=ServiceRequest.Status.RECEIVED, response_due__lt=now)
        )
        .select_related("receiver", "handler")
    )
    for request in overdue.iterator(chunk_size=1000):
        # Late since the earliest deadline missed: an urgent request nobody answered
        # climbs from its response deadline, not from its later resolution one.
        missed = []
        resolve_by = _resolve_by(request)
        if resolve_by < now:
            missed.append(resolve_by)
        if (
            request.status == ServiceRequest.Status.RECEIVED
            and request.response_due < now
        ):
            missed.append(request.response_due)
        if not missed:
            continue
        late_since = min(missed)
        hours_late = (now - late_since).total_seconds() / 3600
        for level, after in LADDER:
            if hours_late < after or request.escalation_level >= level:
                continue
            with transaction.atomic():
                raised += _escalate(
                    request,
                    level,
                    Escalation.Reason.RESPONSE_OVERDUE
                    if late_since == request.response_due
                    else Escalation.Reason.RESOLUTION_OVERDUE,
                )
    return raised
