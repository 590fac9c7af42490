"""Deposits of intent (认筹 / 诚意金): taking one, the buyer's purchase qualification,
and refunds with a sales manager's approval.

A deposit is counted against a limit (deposits per buyer and per household) and gets
the next queue number (排号) of its project, so every take locks the project row
first (FOR NO KEY UPDATE: rows that merely point at the project are not blocked).
Two consultants taking deposits at the same moment then go one after the other: the
second sees the first's deposit when it counts and numbers. The unique constraints
on (project, queue_number) and (project, receipt_number) back the lock up.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from crm_site.audit import audit_change, audit_record, snapshot
from crm_site.models import AuditEntry, User
from crm_site.notifications import notify
from customers.models import Customer
from customers.services import interaction_log
from sales import events as sales_events
from sales.models import (
    DepositRefund,
    IntentDeposit,
    Opportunity,
    Project,
    Registration,
    SelectionSession,
)
from sales.models.approval import refuse_own_approval, withdraws
from sales.querysets import team_deals
from sales.services.deals import opportunity_open
from sales.services.money import sales_managers_of
from sales.services.ownership import (
    deals_follow_protection,
    open_deals_at,
    protected_by_another,
)

Status = IntentDeposit.Status
Qualification = IntentDeposit.Qualification


def deposits_visible_to(user: User) -> QuerySet:
    """Deposits in the user's scope, as deals are: consultants their own, sales
    managers their team's (team_deals), roles with the whole scope all of them."""
    qs = IntentDeposit.objects.all()
    if not user.is_authenticated or not user.has_perm("sales.view_sales_desk"):
        return qs.none()
    if user.has_perm("customers.scope_all"):
        return qs
    if user.has_perm("sales.view_sales_management") and user.team_id:
        return qs.filter(team_deals(user))
    return qs.filter(consultant=user)


def _in_open_session(deposit: IntentDeposit) -> bool:
    # A deposit whose session is selecting may be turned into a subscription at any
    # moment: its money cannot leave meanwhile.
    return deposit.entries.filter(session__status=SelectionSession.Status.OPEN).exists()


@transaction.atomic
def deposit_take(
    *,
    actor: User,
    project: Project,
    customer: Customer,
    receipt_number: str,
    method: str,
    amount: Decimal | None = None,
    paid_on: date | None = None,
) -> IntentDeposit:
    """Take a buyer's deposit of intent and give it the project's next queue number.

    Refuses (ValidationError, by field where there is one) a buyer the actor cannot
    see, a receipt number the project already has, and a buyer or household that
    already holds as many valid deposits as the project allows.
    """
    if not Customer.objects.visible_to(actor).filter(pk=customer.pk).exists():
        raise ValidationError({"customer": _("Choose a customer you can see.")})
    project = Project.objects.select_for_update(no_key=True).get(pk=project.pk)
    customer = Customer.objects.get(pk=customer.pk)
    # Seeing (or changing) the customer is not enough: a deal at the project is the
    # protecting consultant's to open, and an open deal there stays its consultant's.
    open_deals = open_deals_at(customer.pk, project.pk)
    open_deal = open_deals.first()
    if protected_by_another(customer=customer, project=project, user=actor):
        raise ValidationError(
            {"customer": _("This customer is protected at this project.")}
        )
    if open_deal is not None and open_deal.consultant_id != actor.pk:
        if not Registration.objects.filter(
            customer=customer,
            project=project,
            consultant=actor,
            status=Registration.Status.PROTECTED,
        ).exists():
            raise ValidationError(
                {"customer": _("This customer is protected at this project.")}
            )
        # Left open by a consultant whose protection lapsed (claimed from the pool
        # before deals followed claims): the deal is the protecting consultant's.
        list(open_deals.select_for_update().values_list("pk"))
        deals_follow_protection(actor=actor, open_deals=open_deals, consultant=actor)
    receipt_number = receipt_number.strip()
    deposits = IntentDeposit.objects.filter(project=project)
    if deposits.filter(receipt_number=receipt_number).exists():
        raise ValidationError(
            {"receipt_number": _("This receipt number is already used at the project.")}
        )
    active = deposits.filter(status=Status.ACTIVE)
    limit = project.deposits_per_buyer
    if active.filter(customer=customer).count() >= limit:
        raise ValidationError(
            {
                "customer": _(
                    "The buyer already holds %(count)s valid deposit(s) at this "
                    "project, as many as it allows."
                )
                % {"count": limit}
            }
        )
    # The household as it is now, not as it was when each deposit was taken: a
    # spouse linked since counts with the deposit taken before the link.
    if (
        customer.household_id is not None
        and active.filter(
            Q(household_id=customer.household_id)
            | Q(customer__household_id=customer.household_id)
        ).count()
        >= limit
    ):
        raise ValidationError(
            {
                "customer": _(
                    "The buyer's household already holds %(count)s valid deposit(s) "
                    "at this project, as many as it allows."
                )
                % {"count": limit}
            }
        )
    last = deposits.order_by("-queue_number").values_list("queue_number", flat=True)
    deal = opportunity_open(
        actor=actor, customer=customer, project=project, consultant=actor
    )
    deposit = IntentDeposit.objects.create(
        project=project,
        customer=customer,
        household_id=customer.household_id,
        consultant=actor,
        amount=amount if amount is not None else project.deposit_amount,
        receipt_number=receipt_number,
        method=method,
        paid_on=paid_on or timezone.localdate(),
        queue_number=(last.first() or 0) + 1,
        qualification=Qualification.PENDING
        if project.requires_qualification
        else Qualification.NOT_REQUIRED,
        opportunity=deal,
        created_by=actor,
    )
    if deal.stage in (Opportunity.Stage.NEW, Opportunity.Stage.CONTACTED):
        # The deposit was paid at the sales office: the buyer has visited.
        deal.move_to(
            Opportunity.Stage.VISITED,
            actor=actor,
            because=sales_events.DEPOSIT_OF_INTENT(
                receipt=deposit.receipt_number, number=deposit.queue_number
            ),
        )
    audit_record(actor=actor, instance=deposit, action=AuditEntry.Action.CREATE)
    interaction_log(
        customer=customer,
        kind="system",
        actor=actor,
        link=deposit,
        entry=sales_events.DEPOSIT_TAKEN(
            amount=deposit.amount, project=project.name, number=deposit.queue_number
        ),
    )
    return deposit


@transaction.atomic
def deposit_qualify(
    *, actor: User, deposit: IntentDeposit, qualified: bool, reference: str
) -> IntentDeposit:
    """Record the result of the buyer's purchase qualification check (购房资格) with
    its reference (the housing bureau's check number). Repeating it changes nothing."""
    deposit = IntentDeposit.objects.select_for_update().get(pk=deposit.pk)
    if deposit.status != Status.ACTIVE:
        raise ValidationError(_("Only a valid deposit's qualification can be set."))
    result = Qualification.QUALIFIED if qualified else Qualification.UNQUALIFIED
    reference = reference.strip()
    if deposit.qualification == result and deposit.qualification_note == reference:
        return deposit
    before = snapshot(deposit, ["qualification", "qualification_note"])
    deposit.qualification = result
    deposit.qualification_note = reference
    deposit.save(update_fields=["qualification", "qualification_note"])
    audit_change(actor=actor, instance=deposit, before=before)
    interaction_log(
        customer=deposit.customer,
        kind="system",
        actor=actor,
        link=deposit,
        entry=sales_events.DEPOSIT_QUALIFICATION(
            project=deposit.project.name, result=result
        ),
    )
    return deposit


@transaction.atomic
def deposit_refund_request(
    *, actor: User, deposit: IntentDeposit, reason: str
) -> DepositRefund:
    """Ask for the deposit back (the whole amount); a sales manager decides."""
    deposit = (
        IntentDeposit.objects.select_for_update(of=("self",))
        .select_related("customer", "consultant", "project")
        .get(pk=deposit.pk)
    )
    if deposit.status != Status.ACTIVE:
        raise ValidationError(_("Only a valid deposit can be refunded."))
    if _in_open_session(deposit):
        raise ValidationError(
            _("The deposit takes part in a session that is selecting now.")
        )
    if deposit.refunds.filter(status=DepositRefund.Status.PENDING).exists():
        raise ValidationError(_("A refund of this deposit already waits for approval."))
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": _("Say why the deposit is refunded.")})
    refund = DepositRefund.objects.create(
        deposit=deposit, amount=deposit.amount, reason=reason, requested_by=actor
    )
    audit_record(actor=actor, instance=refund, action=AuditEntry.Action.CREATE)
    url = reverse("sales:deposit-refund-list")
    for manager in sales_managers_of(deposit.consultant, deposit.project):
        notify(
            user=manager,
            entry=sales_events.DEPOSIT_REFUND_ASKED(
                who=actor.display_name,
                customer=deposit.customer.name,
                amount=deposit.amount,
            ),
            url=url,
            about=[deposit.customer],
        )
    return refund


@transaction.atomic
def deposit_refund_decide(
    *, actor: User, refund: DepositRefund, approve: bool, note: str = ""
) -> DepositRefund:
    """Approve (the deposit is refunded) or reject a pending refund; a refund that
    was decided already is returned as it is."""
    refund = DepositRefund.objects.select_for_update().get(pk=refund.pk)
    if refund.status != DepositRefund.Status.PENDING:
        return refund
    if approve:
        refuse_own_approval(refund, actor)
    deposit = (
        IntentDeposit.objects.select_for_update(of=("self",))
        .select_related("customer", "project")
        .get(pk=refund.deposit_id)
    )
    if approve and (deposit.status != Status.ACTIVE or _in_open_session(deposit)):
        raise ValidationError(
            _("The deposit can no longer be refunded (used or selecting); reject it.")
        )
    before = snapshot(refund, ["status", "decision_note"])
    refund.status = (
        DepositRefund.Status.APPROVED if approve else DepositRefund.Status.REJECTED
    )
    refund.decided_by = actor
    refund.decided_at = timezone.now()
    refund.decision_note = note.strip()
    refund.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    audit_change(actor=actor, instance=refund, before=before)
    url = reverse("sales:deposit-detail", args=[deposit.pk])
    if not approve:
        if not withdraws(refund, actor):  # who withdrew their own knows
            notify(
                user=refund.requested_by,
                entry=sales_events.DEPOSIT_REFUND_REJECTED(
                    customer=deposit.customer.name
                ),
                url=url,
                about=[deposit.customer],
            )
        return refund
    deposit_before = snapshot(deposit, ["status"])
    deposit.status = Status.REFUNDED
    deposit.status_changed_at = timezone.now()
    deposit.save(update_fields=["status", "status_changed_at"])
    audit_change(actor=actor, instance=deposit, before=deposit_before)
    interaction_log(
        customer=deposit.customer,
        kind="system",
        actor=actor,
        link=deposit,
        entry=sales_events.DEPOSIT_REFUNDED(
            receipt=deposit.receipt_number, amount=refund.amount
        ),
    )
    notify(
        user=refund.requested_by,
        entry=sales_events.DEPOSIT_REFUND_APPROVED(customer=deposit.customer.name),
        url=url,
        about=[deposit.customer],
    )
    return refund
