"""Work orders, contractors' chargebacks and knowledge links: the use cases.

A work order hands a piece of a request's work to a department, a crew or a contractor;
the request's receiver stays accountable for it (首问负责制) whoever does the work.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm_site import events
from crm_site.audit import audit_change, audit_record, snapshot
from crm_site.models import AuditEntry, User
from customers.services import interaction_log
from service import events as service_events
from service.models import (
    Article,
    ArticleUse,
    Chargeback,
    Contractor,
    Department,
    ServiceRequest,
    ServiceStep,
    WorkOrder,
    add_months,
)

WORKING = (
    ServiceRequest.Status.RECEIVED,
    ServiceRequest.Status.ASSIGNED,
    ServiceRequest.Status.IN_PROGRESS,
)


def _record(
    *,
    actor: User,
    work_order: WorkOrder,
    step: events.Entry,
    action: str,
    note: str = "",
    before: dict[str, str] | None = None,
) -> None:
    """Leave the step on the request, the line on the owner's timeline, the audit row.
    ``step`` is what happened (an event entry); ``note`` what the person wrote;
    ``before`` the work order's snapshot (``_watched``) taken before the step, so the
    audit row says what it changed (the money included)."""
    request = work_order.request
    ServiceStep.objects.create(
        request=request,
        from_status=request.status,
        to_status=request.status,
        department=work_order.department,
        actor=actor,
        note=note[:300],
        event=step.code,
        params=step.params,
    )
    interaction_log(
        customer=request.customer,
        kind="system",
        entry=service_events.WORK_ORDER_STEP(
            kind=request.kind, number=request.number, step=step
        ),
        summary=note,
        actor=actor,
        link=request,
    )
    if before is None:
        audit_record(
            actor=actor,
            instance=work_order,
            action=action,
            changes={"status": {"new": work_order.status}},
        )
    else:
        audit_change(actor=actor, instance=work_order, before=before)


# What a step may change and the audit trail must show: the cost is what the
# contractor is paid.
WATCHED = ["status", "cost", "appointment_at"]


def _watched(work_order: WorkOrder) -> dict[str, str]:
    return snapshot(work_order, WATCHED)


def _assignee_fields(
    kind: str, department: str, crew: str, contractor: Contractor | None
) -> dict:
    if kind == WorkOrder.Assignee.CONTRACTOR:
        if contractor is None or not contractor.active:
            raise ValidationError({"contractor": _("Choose an active contractor.")})
        return {"contractor": contractor, "department": Department.CONTRACTOR}
    if kind == WorkOrder.Assignee.CREW:
        if not crew.strip():
            raise ValidationError({"crew": _("Name the crew.")})
        return {"crew": crew.strip(), "department": Department.ENGINEERING}
    if kind == WorkOrder.Assignee.DEPARTMENT:
        if department not in Department.values or department == Department.CONTRACTOR:
            raise ValidationError(
                {"department": _("Choose a department; contractors get their own.")}
            )
        return {"department": department}
    raise ValidationError({"assignee_kind": _("Choose who does the work.")})


@transaction.atomic
def work_order_create(
    *,
    actor: User,
    request: ServiceRequest,
    task: str,
    assignee_kind: str,
    department: str = "",
    crew: str = "",
    contractor: Contractor | None = None,
    appointment_at: datetime | None = None,
    due_at: datetime | None = None,
    cost: Decimal | None = None,
) -> WorkOrder:
    """Hand part of a request's work out. A request still at the desk becomes
    "assigned"; the receiver stays accountable."""
    request = (
        ServiceRequest.objects.select_for_update(of=("self",))
        .select_related("customer")
        .get(pk=request.pk)
    )
    if request.status not in WORKING:
        raise ValidationError(_("Work orders are for requests still being worked on."))
    from service.services import must_be_accepted

    must_be_accepted(request)
    if not task.strip():
        raise ValidationError({"task": _("Say what is to be done.")})
    work_order = WorkOrder(
        request=request,
        task=task.strip(),
        assignee_kind=assignee_kind,
        appointment_at=appointment_at,
        due_at=due_at or request.resolution_due,
        cost=cost or Decimal("0.00"),
        created_by=actor,
        status=WorkOrder.Status.SCHEDULED if appointment_at else WorkOrder.Status.OPEN,
        **_assignee_fields(assignee_kind, department, crew, contractor),
    )
    work_order.save()
    if request.status == ServiceRequest.Status.RECEIVED:
        before = snapshot(request, ["department"])
        request.department = work_order.department
        request.save(update_fields=["department"])
        audit_change(actor=actor, instance=request, before=before)
        request.move_to(
            ServiceRequest.Status.ASSIGNED,
            actor=actor,
            because=service_events.HANDED_TO(
                who=service_events.assignee_of(work_order)
            ),
        )
    _record(
        actor=actor,
        work_order=work_order,
        action=AuditEntry.Action.CREATE,
        step=service_events.WORK_ORDER_CREATED(
            pk=work_order.pk,
            who=service_events.assignee_of(work_order),
            task=work_order.task,
        ),
    )
    return work_order


def _locked(work_order: WorkOrder) -> WorkOrder:
    return (
        WorkOrder.objects.select_for_update(of=("self",))
        .select_related("request__customer", "contractor")
        .get(pk=work_order.pk)
    )


@transaction.atomic
def work_order_schedule(
    *, actor: User, work_order: WorkOrder, appointment_at: datetime
) -> WorkOrder:
    work_order = _locked(work_order)
    before = _watched(work_order)
    work_order.move_to(WorkOrder.Status.SCHEDULED)
    work_order.appointment_at = appointment_at
    work_order.save(update_fields=["status", "appointment_at"])
    _record(
        actor=actor,
        work_order=work_order,
        action=AuditEntry.Action.UPDATE,
        before=before,
        step=service_events.WORK_ORDER_SCHEDULED(
            pk=work_order.pk,
            who=service_events.assignee_of(work_order),
            when=appointment_at,
        ),
    )
    return work_order


def may_sign_off(actor: User, request: ServiceRequest) -> bool:
    """Who confirms the work on site: the request's receiver, accountable for it
    whoever did the work (首问负责制), or a service manager; not any agent."""
    return actor.pk == request.receiver_id or actor.has_perm("service.manage_service")


@transaction.atomic
def work_order_sign_off(
    *,
    actor: User,
    work_order: WorkOrder,
    note: str,
    photo: UploadedFile | None = None,
    cost: Decimal | None = None,
) -> WorkOrder:
    """The receiver confirms the work on site with the owner (note and photo); a
    service manager may stand in. Anyone else is refused (PermissionDenied)."""
    work_order = _locked(work_order)
    if not may_sign_off(actor, work_order.request):
        raise PermissionDenied(
            _("The request's receiver or a service manager signs the work off.")
        )
    if not note.strip():
        raise ValidationError({"note": _("Say what was found on site.")})
    before = _watched(work_order)
    if not work_order.move_to(WorkOrder.Status.DONE):
        return work_order
    work_order.signed_off_at = timezone.now()
    work_order.signed_off_by = actor
    work_order.signoff_note = note.strip()
    if cost is not None:
        work_order.cost = cost
    if photo is not None:
        work_order.signoff_photo.save(photo.name, photo, save=False)
    work_order.save()
    _record(
        actor=actor,
        work_order=work_order,
        action=AuditEntry.Action.UPDATE,
        step=service_events.WORK_ORDER_SIGNED_OFF(pk=work_order.pk),
        note=work_order.signoff_note,
        before=before,
    )
    return work_order


@transaction.atomic
def work_order_cancel(*, actor: User, work_order: WorkOrder, reason: str) -> WorkOrder:
    if not reason.strip():
        raise ValidationError({"reason": _("Say why the work order is cancelled.")})
    work_order = _locked(work_order)
    before = _watched(work_order)
    if not work_order.move_to(WorkOrder.Status.CANCELLED):
        return work_order
    work_order.cancel_reason = reason.strip()
    work_order.save(update_fields=["status", "cancel_reason"])
    _record(
        actor=actor,
        work_order=work_order,
        action=AuditEntry.Action.UPDATE,
        step=service_events.WORK_ORDER_CANCELLED(pk=work_order.pk),
        note=work_order.cancel_reason,
        before=before,
    )
    return work_order


def warranty_end(work_order: WorkOrder) -> datetime | None:
    if work_order.signed_off_at is None or work_order.contractor_id is None:
        return None
    # Months are counted on the site's calendar: 02:00 in Shanghai on 31 January is
    # still 30 January in UTC, whose month later would be a day late (1 March).
    return add_months(
        timezone.localtime(work_order.signed_off_at),
        work_order.contractor.warranty_months,
    )


@transaction.atomic
def chargeback_create(
    *,
    actor: User,
    work_order: WorkOrder,
    request: ServiceRequest,
    amount: Decimal,
    reason: str,
) -> Chargeback:
    """Charge a contractor for a defect in its signed-off work, reported within its
    warranty: in the work's own request (reopened now) or in a later request about a
    unit of the same building. The work order row is locked first, so the same defect
    submitted twice at once is recorded once and the second is told so."""
    work_order = _locked(work_order)
    end = warranty_end(work_order)
    if end is None:
        raise ValidationError(
            _("Only signed-off work by a contractor can be charged back.")
        )
    if request.pk == work_order.request_id:
        reported_at = timezone.now()
    else:
        reported_at = request.received_at
        if reported_at < work_order.signed_off_at:
            raise ValidationError(
                {"request": _("That request was received before the work was done.")}
            )
        _refuse_other_building(work_order, request)
    if reported_at > end:
        raise ValidationError(
            _("The warranty of this work ended on %(end)s.")
            % {"end": timezone.localtime(end).strftime("%Y-%m-%d")}
        )
    if Chargeback.objects.filter(work_order=work_order, request=request).exists():
        raise ValidationError(_("This defect is already charged back."))
    chargeback = Chargeback.objects.create(
        contractor=work_order.contractor,
        work_order=work_order,
        request=request,
        amount=amount,
        reason=reason.strip(),
        created_by=actor,
    )
    audit_record(actor=actor, instance=chargeback, action=AuditEntry.Action.CREATE)
    return chargeback


def _refuse_other_building(work_order: WorkOrder, request: ServiceRequest) -> None:
    """A defect in someone else's building is not a defect in this work. Work on a
    request without a unit (nothing to compare) is not restricted."""
    done_at = work_order.request.unit
    if done_at is None:
        return
    if request.unit is None or request.unit.building_id != done_at.building_id:
        raise ValidationError(
            {
                "request": _(
                    "That request is not about a unit of the building where the work "
                    "was done."
                )
            }
        )


@transaction.atomic
def chargeback_recover(*, actor: User, chargeback: Chargeback) -> bool:
    """Mark the money as recovered; once."""
    updated = Chargeback.objects.filter(
        pk=chargeback.pk, status=Chargeback.Status.DUE
    ).update(status=Chargeback.Status.RECOVERED, recovered_at=timezone.now())
    if updated:
        chargeback.refresh_from_db()
        audit_record(
            actor=actor,
            instance=chargeback,
            action=AuditEntry.Action.UPDATE,
            changes={"status": {"old": "due", "new": "recovered"}},
        )
    return bool(updated)


def _article_step(
    *, actor: User, request: ServiceRequest, article: Article, linked: bool
) -> None:
    """The step on the request and the audit entry of a link made or undone."""
    step = (
        service_events.ARTICLE_LINKED if linked else service_events.ARTICLE_UNLINKED
    )(title=article.title)
    ServiceStep.objects.create(
        request=request,
        from_status=request.status,
        to_status=request.status,
        actor=actor,
        event=step.code,
        params=step.params,
    )
    title = article.title
    audit_record(
        actor=actor,
        instance=request,
        action=AuditEntry.Action.UPDATE,
        changes={
            "articles": {"old": "" if linked else title, "new": title if linked else ""}
        },
    )


@transaction.atomic
def article_use(*, actor: User, request: ServiceRequest, article: Article) -> bool:
    """Note that a request was handled with an article; once per pair."""
    _use, created = ArticleUse.objects.get_or_create(
        article=article, request=request, defaults={"used_by": actor}
    )
    if created:
        _article_step(actor=actor, request=request, article=article, linked=True)
    return created


@transaction.atomic
def article_unuse(*, actor: User, request: ServiceRequest, article: Article) -> bool:
    """Undo the link; recorded only when there was one."""
    deleted, _rows = ArticleUse.objects.filter(
        article=article, request=request
    ).delete()
    if deleted:
        _article_step(actor=actor, request=request, article=article, linked=False)
    return bool(deleted)
