"""Money on a deal: discounts within the shared rules, the payment plan, receipts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from crm_site.audit import audit_change, audit_record, snapshot
from crm_site.models import AuditEntry, User
from crm_site.notifications import notify
from crm_site.roles import Role
from customers.services import interaction_log
from sales import events as sales_events
from sales.models import DiscountRequest, Opportunity, PaymentItem, Project, Receipt
from sales.models.approval import refuse_own_approval, withdraws
from sales.pricing import quote
from sales.services.commission import commission_accrue


def sales_managers_of(user: User, project: Project | None = None):
    """Who decides what ``user`` asks at ``project``: the managers who see the deal
    (Opportunity.visible_to) — the user's team's while that team sells the project
    (a project without teams is everyone's), else the teams' that sell it."""
    managers = User.objects.filter(
        is_active=True, groups__name=Role.SALES_MANAGER.value
    ).distinct()
    if project is not None:
        teams = set(project.teams.values_list("pk", flat=True))
        if teams and user.team_id not in teams:
            return managers.filter(team_id__in=teams)
    return managers.filter(team_id=user.team_id)


def decision_told(
    deal: Opportunity, requester: User, decider: User | None = None
) -> User | None:
    """Who hears a manager's decision on a deal: who asked, while they still see the
    deal; else (moved off it, or gone) whoever works it now. Nobody who has left,
    and not the ``decider`` (who asked and withdrew it knows). No query when who
    works the deal asked (a dialog per request on the approvals page asks too)."""
    told = _decision_told(deal, requester)
    return None if decider is not None and told == decider else told


def _decision_told(deal: Opportunity, requester: User) -> User | None:
    if requester.is_active and (
        requester.pk == deal.consultant_id
        or Opportunity.objects.visible_to(requester).filter(pk=deal.pk).exists()
    ):
        return requester
    consultant = deal.consultant
    return consultant if consultant is not None and consultant.is_active else None


@transaction.atomic
def discount_request(
    *, actor: User, opportunity: Opportunity, percent: Decimal, reason: str
) -> DiscountRequest:
    """Ask for a discount. Up to the project's limit it is granted at once; beyond it
    (or below the unit's floor price) a sales manager decides."""
    opportunity = (
        Opportunity.objects.select_for_update(of=("self",))
        .select_related("project", "unit", "customer", "consultant")
        .get(pk=opportunity.pk)
    )
    if (
        opportunity.stage
        not in (
            Opportunity.Stage.VISITED,
            Opportunity.Stage.RESERVED,
        )
        or opportunity.unit_id is None
    ):
        raise ValidationError(
            _("A discount is set on a deal holding a unit, before subscription.")
        )
    if percent <= 0 or percent >= 100:
        raise ValidationError(_("A discount is between 0 and 100 %."))
    opportunity.discount_requests.filter(status=DiscountRequest.Status.PENDING).update(
        status=DiscountRequest.Status.WITHDRAWN, decided_at=timezone.now()
    )
    within_rules = (
        percent <= opportunity.project.discount_limit
        and not quote(unit=opportunity.unit, discount_percent=percent).below_floor
    )
    request = DiscountRequest.objects.create(
        opportunity=opportunity,
        percent=percent,
        reason=reason,
        requested_by=actor,
        status=DiscountRequest.Status.APPROVED
        if within_rules
        else DiscountRequest.Status.PENDING,
        decided_by=actor if within_rules else None,
        decided_at=timezone.now() if within_rules else None,
    )
    if within_rules:
        _apply_discount(opportunity, percent, actor)
    else:
        for manager in sales_managers_of(opportunity.consultant, opportunity.project):
            notify(
                user=manager,
                entry=sales_events.DISCOUNT_ASKED(
                    who=actor.display_name,
                    percent=percent,
                    customer=opportunity.customer.name,
                ),
                url="/sales/approvals/",
                about=[opportunity.customer],
            )
    return request


def _apply_discount(opportunity: Opportunity, percent: Decimal, actor: User) -> None:
    before = snapshot(opportunity, ["discount_percent"])
    opportunity.discount_percent = percent
    opportunity.save(update_fields=["discount_percent"])
    audit_change(actor=actor, instance=opportunity, before=before)
    priced = quote(unit=opportunity.unit, discount_percent=percent)
    interaction_log(
        customer=opportunity.customer,
        kind="system",
        entry=sales_events.DISCOUNT(
            percent=percent, unit=opportunity.unit.number, price=priced.price
        ),
        actor=actor,
        link=opportunity,
    )


@transaction.atomic
def discount_decide(
    *, actor: User, request: DiscountRequest, approve: bool, note: str = ""
) -> DiscountRequest:
    request = (
        DiscountRequest.objects.select_for_update(of=("self",))
        .select_related("opportunity__unit", "opportunity__customer")
        .get(pk=request.pk)
    )
    if request.status != DiscountRequest.Status.PENDING:
        return request
    if approve:
        refuse_own_approval(request, actor)
    if approve and request.opportunity.unit is None:
        # The hold was released after the request: there is no price to discount.
        raise ValidationError(
            _("This deal holds no unit any more; reject the request instead.")
        )
    if approve:
        request.status = DiscountRequest.Status.APPROVED
    elif withdraws(request, actor):
        # Who asked takes it back, as a new request of theirs would.
        request.status = DiscountRequest.Status.WITHDRAWN
    else:
        request.status = DiscountRequest.Status.REJECTED
    request.decided_by = actor
    request.decided_at = timezone.now()
    request.decision_note = note
    request.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    # Who decided (or withdrew their own request) is on its trail, as a change's.
    audit_record(
        actor=actor,
        instance=request,
        action=AuditEntry.Action.UPDATE,
        changes={"status": {"old": "pending", "new": request.status}},
    )
    if approve:
        _apply_discount(request.opportunity, request.percent, actor)
    told = decision_told(request.opportunity, request.requested_by, actor)
    if told is not None:
        notify(
            user=told,
            entry=(
                sales_events.DISCOUNT_APPROVED
                if approve
                else sales_events.DISCOUNT_REJECTED
            )(customer=request.opportunity.customer.name),
            target=request.opportunity,
            about=[request.opportunity.customer],
        )
    return request


@dataclass(frozen=True)
class PlanLine:
    kind: str
    due_date: date
    amount: Decimal


def plan_lines(
    *, total: Decimal, scheme: str, start: date, deposit: Decimal
) -> list[PlanLine]:
    """The usual schemes: full payment, or 30 % down with a mortgage, or three instalments."""

    def part(share: str) -> Decimal:
        return (total * Decimal(share)).quantize(Decimal("1"), rounding=ROUND_HALF_UP)

    if scheme == "full":
        lines = [
            PlanLine(PaymentItem.Kind.DEPOSIT, start, deposit),
            PlanLine(
                PaymentItem.Kind.FULL, start + timedelta(days=30), total - deposit
            ),
        ]
    elif scheme == "mortgage":
        down = part("0.30")
        lines = [
            PlanLine(PaymentItem.Kind.DEPOSIT, start, deposit),
            PlanLine(
                PaymentItem.Kind.DOWN_PAYMENT,
                start + timedelta(days=30),
                down - deposit,
            ),
            PlanLine(
                PaymentItem.Kind.MORTGAGE, start + timedelta(days=90), total - down
            ),
        ]
    elif scheme == "instalments":
        first = part("0.40")
        second = part("0.30")
        lines = [
            PlanLine(PaymentItem.Kind.DEPOSIT, start, deposit),
            PlanLine(
                PaymentItem.Kind.INSTALMENT, start + timedelta(days=30), first - deposit
            ),
            PlanLine(PaymentItem.Kind.INSTALMENT, start + timedelta(days=120), second),
            PlanLine(
                PaymentItem.Kind.INSTALMENT,
                start + timedelta(days=240),
                total - first - second,
            ),
        ]
    else:
        raise ValidationError(_("Unknown payment scheme."))
    if any(line.amount <= 0 for line in lines):
        raise ValidationError(_("The deposit is larger than the first payment."))
    return lines


def plan_total(deal: Opportunity) -> Decimal:
    """What a deal's plan adds up to: its price, and the money earlier changes kept
    (``forfeited``) or owe back (its refunds), which stays on the lines received
    though it is no longer the buyer's."""
    refunded = deal.refunds.aggregate(total=Sum("amount"))["total"] or Decimal("0")
    return deal.agreed_price + deal.forfeited + refunded


@transaction.atomic
def payment_plan_create(
    *,
    actor: User,
    opportunity: Opportunity,
    scheme: str,
    deposit: Decimal,
    start: date | None = None,
) -> list[PaymentItem]:
    """Replace the plan of a subscribed or contracted deal; refused once money came in."""
    opportunity = Opportunity.objects.select_for_update().get(pk=opportunity.pk)
    if opportunity.stage not in (
        Opportunity.Stage.SUBSCRIBED,
        Opportunity.Stage.CONTRACTED,
    ):
        raise ValidationError(
            _("A payment plan belongs to a subscribed or contracted deal.")
        )
    if opportunity.agreed_price is None:
        raise ValidationError(_("The deal has no agreed price."))
    # A deposit of intent applied at a selection (sales.services.opening) is the
    # plan's first line, already received: the plan is built around it.
    applied = opportunity.payment_items.filter(
        sequence=1, kind=PaymentItem.Kind.DEPOSIT, received=F("amount")
    ).first()
    paid = opportunity.payment_items.filter(received__gt=0)
    if applied is not None:
        paid = paid.exclude(pk=applied.pk)
        deposit = applied.amount
    if paid.exists():
        raise ValidationError(
            _("Money has been received; the plan can no longer be replaced.")
        )
    lines = plan_lines(
        total=plan_total(opportunity),
        scheme=scheme,
        start=start or timezone.localdate(),
        deposit=deposit,
    )
    old_plan = _plan_text(opportunity.payment_items.order_by("sequence"))
    opportunity.payment_items.exclude(pk=getattr(applied, "pk", None)).delete()
    if applied is not None:
        lines = lines[1:]
    first = 2 if applied is not None else 1
    created = PaymentItem.objects.bulk_create(
        PaymentItem(
            opportunity=opportunity,
            sequence=n,
            kind=line.kind,
            due_date=line.due_date,
            amount=line.amount,
        )
        for n, line in enumerate(lines, start=first)
    )
    plan = [applied, *created] if applied is not None else created
    # What the buyer owes and when: who replaced which plan stays on the deal's trail.
    new_plan = _plan_text(plan)
    if new_plan != old_plan:
        audit_record(
            actor=actor,
            instance=opportunity,
            action=AuditEntry.Action.UPDATE,
            changes={"payment_items": {"old": old_plan, "new": new_plan}},
        )
    return plan


def _plan_text(items) -> str:
    """A plan's lines as the audit trail keeps them: number, kind, due date, amount."""
    return "; ".join(
        f"{item.sequence}. {item.kind} {item.due_date:%Y-%m-%d} {item.amount:.2f}"
        for item in items
    )


# The stages at which money comes in (paid in full: a correction of its last line).
RECEIVING_STAGES = (
    Opportunity.Stage.SUBSCRIBED,
    Opportunity.Stage.CONTRACTED,
    Opportunity.Stage.PAID,
)


@transaction.atomic
def receipt_record(
    *,
    actor: User,
    item: PaymentItem,
    amount: Decimal,
    received_on: date,
    method: str,
    reference: str = "",
) -> Receipt:
    """Money in. The deal becomes paid in full when every item is received and the
    contract is signed."""
    # The deal first, then its line, as a change of the deal (its plan re-cut) and
    # a new plan lock them: the other way round the two would deadlock.
    opportunity = Opportunity.objects.select_for_update().get(pk=item.opportunity_id)
    item = PaymentItem.objects.select_for_update().get(pk=item.pk)
    item.opportunity = opportunity
    if opportunity.stage not in RECEIVING_STAGES:
        # A cancelled deal's money is settled by its refund, not by more receipts.
        raise ValidationError(
            _("Money is received on a subscribed or contracted deal only.")
        )
    if amount <= 0:
        raise ValidationError(_("The amount must be positive."))
    if amount > item.outstanding:
        raise ValidationError(
            _("Only ¥%(left)s is outstanding on this item.")
            % {"left": f"{item.outstanding:,.2f}"}
        )
    receipt = Receipt.objects.create(
        item=item,
        amount=amount,
        received_on=received_on,
        method=method,
        reference=reference,
        recorded_by=actor,
    )
    PaymentItem.objects.filter(pk=item.pk).update(received=F("received") + amount)
    # Money in is on the deal's trail as its plan is: who recorded what, where.
    audit_record(
        actor=actor,
        instance=opportunity,
        action=AuditEntry.Action.UPDATE,
        changes={
            "receipts": {
                "old": "",
                "new": f"{item.sequence}. {item.kind} {amount:.2f} "
                f"{received_on:%Y-%m-%d} {method} {reference}".strip(),
            }
        },
    )
    totals = opportunity.payment_items.aggregate(due=Sum("amount"), got=Sum("received"))
    if (
        opportunity.stage == Opportunity.Stage.CONTRACTED
        and totals["due"] is not None
        and totals["got"] >= totals["due"]
    ):
        opportunity.move_to(
            Opportunity.Stage.PAID, actor=actor, because=sales_events.PAID_IN_FULL()
        )
        commission_accrue(deal=opportunity, actor=actor)
    return receipt
