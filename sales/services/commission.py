"""Consultants' commission per deal (佣金), by the project's rule.

Accrued when the deal reaches the rule's earning stage (called from the services that
move it there: opportunity_contract, receipt_record, an approved change of unit),
payable once the deal is paid in full, paid when a sales manager marks it. An
approved cancellation voids it while unpaid, and takes a paid one back with a
negative clawback line in the consultant's next settlement; a sales manager may
write that line off with a reason when it will not be recovered (the consultant
left). One row per deal, consultant and kind: accruing twice finds the row and
changes nothing.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm_site.audit import audit_change, audit_record, snapshot
from crm_site.models import AuditEntry, User
from customers.services import interaction_log
from sales import events as sales_events
from sales.models import Commission, CommissionRule, Opportunity, Project
from sales.models.aftersale import Basis
from sales.models.approval import other_eyes


def _log(deal: Opportunity, actor: User | None, entry) -> None:
    interaction_log(
        customer=deal.customer, kind="system", actor=actor, link=deal, entry=entry
    )


@transaction.atomic
def commission_accrue(
    *, deal: Opportunity, actor: User | None = None
) -> Commission | None:
    """The deal's commission once it is earned; None when the project has no rule
    or the deal has not reached the earning stage. Safe to call again and again."""
    rule = CommissionRule.objects.filter(project_id=deal.project_id).first()
    if rule is None or not rule.earned_by(deal.stage):
        return None
    status = (
        Commission.Status.PAYABLE
        if deal.stage == Opportunity.Stage.PAID
        else Commission.Status.ACCRUED
    )
    # The sale's commission is one per deal: a deal reassigned after it accrued
    # keeps the row of the consultant who earned it.
    existing = (
        Commission.objects.select_for_update()
        .filter(opportunity=deal, kind=Commission.Kind.SALE)
        .first()
    )
    if existing is not None:
        if existing.status == Commission.Status.ACCRUED and status == (
            Commission.Status.PAYABLE
        ):
            before = snapshot(existing, ["status"])
            existing.status = status
            existing.save(update_fields=["status"])
            audit_change(actor=actor, instance=existing, before=before)
        return existing
    try:
        # A concurrent accrual of the same deal: the unique constraint decides.
        with transaction.atomic():
            commission = Commission.objects.create(
                opportunity=deal,
                consultant_id=deal.consultant_id,
                project_id=deal.project_id,
                basis=rule.basis,
                rate=rule.rate,
                price=deal.agreed_price,
                amount=rule.amount_for(deal),
                status=status,
            )
    except IntegrityError:
        return Commission.objects.get(
            opportunity=deal,
            consultant_id=deal.consultant_id,
            kind=Commission.Kind.SALE,
        )
    audit_record(
        actor=actor,
        instance=commission,
        action=AuditEntry.Action.CREATE,
        changes={"amount": {"old": "", "new": str(commission.amount)}},
    )
    _log(
        deal,
        actor,
        sales_events.COMMISSION_ACCRUED(
            amount=commission.amount, who=deal.consultant.display_name
        ),
    )
    return commission


@transaction.atomic
def commission_reprice(*, deal: Opportunity, actor: User | None) -> None:
    """A change of unit moved the price: commission not yet paid follows it."""
    for commission in Commission.objects.select_for_update().filter(
        opportunity=deal,
        kind=Commission.Kind.SALE,
        status__in=[Commission.Status.ACCRUED, Commission.Status.PAYABLE],
        basis=Basis.PERCENT,
    ):
        before = snapshot(commission, ["price", "amount"])
        commission.price = deal.agreed_price
        commission.amount = (
            (deal.agreed_price or Decimal("0")) * commission.rate / Decimal("100")
        ).quantize(Decimal("0.01"))
        commission.save(update_fields=["price", "amount"])
        audit_change(actor=actor, instance=commission, before=before)


@transaction.atomic
def commission_claw_back(*, deal: Opportunity, actor: User | None) -> list[Commission]:
    """An approved cancellation (退房): the deal's commission does not stand.

    Unpaid (accrued or payable), it is voided. Paid, it stays paid — the money went
    out — and a clawback line of the negative amount is made, payable, so the
    consultant's next settlement deducts it; a sales manager marks it deducted as
    they mark commission paid. Each step is audited and on the customer's timeline;
    running it again changes nothing (a row ended once keeps its clawed_back_at, and
    there is one clawback line per deal and consultant). Returns the rows changed
    and the lines made."""
    changed: list[Commission] = []
    now = timezone.now()
    for commission in (
        Commission.objects.select_for_update()
        .filter(
            opportunity=deal,
            kind=Commission.Kind.SALE,
            clawed_back_at__isnull=True,
            status__in=[
                Commission.Status.ACCRUED,
                Commission.Status.PAYABLE,
                Commission.Status.PAID,
            ],
        )
        .select_related("consultant")
        .order_by("pk")
    ):
        who = commission.consultant.display_name
        before = snapshot(commission, ["status", "clawed_back_at"])
        commission.clawed_back_at = now
        if commission.status == Commission.Status.PAID:
            commission.save(update_fields=["clawed_back_at"])
            audit_change(actor=actor, instance=commission, before=before)
            line = _clawback_line(commission, now=now, actor=actor)
            _log(
                deal,
                actor,
                sales_events.COMMISSION_CLAWBACK_DUE(amount=commission.amount, who=who),
            )
            changed += [commission, line]
            continue
        commission.status = Commission.Status.VOIDED
        commission.save(update_fields=["status", "clawed_back_at"])
        audit_change(actor=actor, instance=commission, before=before)
        _log(
            deal,
            actor,
            sales_events.COMMISSION_VOIDED(amount=commission.amount, who=who),
        )
        changed.append(commission)
    return changed


def _clawback_line(commission: Commission, *, now, actor: User | None) -> Commission:
    """The negative line that takes a paid commission back in the next settlement."""
    line = Commission.objects.create(
        opportunity_id=commission.opportunity_id,
        consultant_id=commission.consultant_id,
        project_id=commission.project_id,
        kind=Commission.Kind.CLAWBACK,
        basis=commission.basis,
        rate=commission.rate,
        price=commission.price,
        amount=-commission.amount,
        status=Commission.Status.PAYABLE,
        accrued_at=now,
    )
    audit_record(
        actor=actor,
        instance=line,
        action=AuditEntry.Action.CREATE,
        changes={
            "amount": {"old": "", "new": str(line.amount)},
            "status": {"old": "", "new": line.status},
        },
    )
    return line


def _refuse_own(commission: Commission, actor: User) -> None:
    """Four eyes, as for approvals (refuse_own_approval): a sales manager who sells
    does not settle their own line — pay it, deduct it or write it off. An
    administrator may: a company with one sales manager still has someone to."""
    if not other_eyes(actor, commission.consultant_id):
        raise ValidationError(
            _("Someone else settles your own commission: another sales manager.")
        )


@transaction.atomic
def commission_mark_paid(*, actor: User, commission: Commission) -> bool:
    """A sales manager records a payable commission as paid — a clawback line as
    deducted (clawed back) — with who and when; False when it was done already (a
    second click)."""
    commission = Commission.objects.select_for_update().get(pk=commission.pk)
    settled = (
        Commission.Status.CLAWED_BACK
        if commission.kind == Commission.Kind.CLAWBACK
        else Commission.Status.PAID
    )
    if commission.status == settled:
        return False
    _refuse_own(commission, actor)
    if commission.status == Commission.Status.WAIVED:
        raise ValidationError(
            _("This clawback was written off: it is no longer deducted.")
        )
    if commission.status != Commission.Status.PAYABLE:
        raise ValidationError(
            _(
                "Only a payable commission can be paid: it becomes payable when the "
                "deal is paid in full."
            )
        )
    before = snapshot(commission, ["status", "paid_at", "paid_by"])
    commission.status = settled
    commission.paid_at = timezone.now()
    commission.paid_by = actor
    commission.save(update_fields=["status", "paid_at", "paid_by"])
    audit_change(actor=actor, instance=commission, before=before)
    return True


WAIVE_REASON_MAX = 200


@transaction.atomic
def commission_waive(*, actor: User, commission: Commission, reason: str) -> bool:
    """A sales manager writes a payable clawback line off (核销): it will not be
    recovered — the consultant left and has no next settlement, or the manager
    decides not to take it back. Whoever the consultant is, with a reason; who and
    when are kept as for a deduction (paid_by, paid_at). Audited and on the deal
    customer's timeline; False when it was written off already (a second click)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("Give the reason for writing the clawback off."))
    if len(reason) > WAIVE_REASON_MAX:
        raise ValidationError(
            _("The reason is at most %(limit_value)s characters.")
            % {"limit_value": WAIVE_REASON_MAX}
        )
    commission = (
        Commission.objects.select_for_update(of=("self",))
        .select_related("opportunity__customer", "consultant")
        .get(pk=commission.pk)
    )
    if commission.kind != Commission.Kind.CLAWBACK:
        raise ValidationError(
            _("Only a clawback line can be written off, never a consultant's pay.")
        )
    if commission.status == Commission.Status.WAIVED:
        return False
    _refuse_own(commission, actor)
    if commission.status != Commission.Status.PAYABLE:
        raise ValidationError(
            _("This clawback was deducted already: there is nothing to write off.")
        )
    before = snapshot(commission, ["status", "paid_at", "paid_by", "waive_reason"])
    commission.status = Commission.Status.WAIVED
    commission.paid_at = timezone.now()
    commission.paid_by = actor
    commission.waive_reason = reason
    commission.save(update_fields=["status", "paid_at", "paid_by", "waive_reason"])
    audit_change(actor=actor, instance=commission, before=before)
    _log(
        commission.opportunity,
        actor,
        sales_events.COMMISSION_CLAWBACK_WAIVED(
            amount=-commission.amount,
            who=commission.consultant.display_name,
            reason=reason,
        ),
    )
    return True


@transaction.atomic
def commission_rule_set(
    *,
    actor: User,
    project: Project,
    basis: str,
    rate: Decimal,
    earned_at: str,
) -> CommissionRule:
    """Set the project's rule; rows already accrued keep the rule they were made
    under. Audited with the old and new values."""
    if basis == Basis.PERCENT and rate > 100:
        raise ValidationError(_("A percentage is at most 100."))
    if rate < 0:
        raise ValidationError(_("The rate cannot be negative."))
    rule = CommissionRule.objects.select_for_update().filter(project=project).first()
    fields = ["basis", "rate", "earned_at"]
    if rule is None:
        rule = CommissionRule(project=project)
        before = dict.fromkeys(fields, "")
    else:
        before = snapshot(rule, fields)
    rule.basis = basis
    rule.rate = rate
    rule.earned_at = earned_at
    rule.updated_by = actor
    rule.updated_at = timezone.now()
    rule.save()
    audit_change(actor=actor, instance=rule, before=before)
    return rule
