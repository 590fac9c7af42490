"""Changes after subscription or contract (退房 / 换房 / 更名): asked by the
consultant, applied when a sales manager approves, under the project's rules.

A cancellation keeps the project's forfeit from the money received and owes the rest
back (a DealRefund); a change of unit re-prices the deal and counts the money
received against the new price (the plan's open lines absorb the difference); a
change of buyer may cost a fee and keeps only co-buyers of the new buyer's household.

What a change keeps (its forfeit) is recorded on the change and added to the deal's
``forfeited``: it stays on the plan's received lines but is the buyer's no more, so
no later change gives it back or counts it against another price.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from crm_site import live
from crm_site.audit import audit_change, audit_record, snapshot
from crm_site.models import AuditEntry, User
from crm_site.notifications import notify
from customers.models import Customer
from customers.services import interaction_log
from sales import events as sales_events
from sales.models import (
    ChangeRule,
    CoBuyer,
    DealChange,
    DealRefund,
    Opportunity,
    PaymentItem,
    Selection,
    Unit,
)
from sales.models.approval import refuse_own_approval
from sales.pricing import quote
from sales.services.commission import (
    commission_accrue,
    commission_claw_back,
    commission_reprice,
)
from sales.services.deals import (
    UnitUnavailable,
    _expire_lapsed_hold,
    _refuse_session_unit,
    _set_unit_status,
    customer_stage_follow_deals,
    lapsed_hold_deal_id,
    lapsed_holds,
)
from sales.services.money import decision_told, plan_total, sales_managers_of
from sales.services.ownership import protected_by_another
from sales.signals import deal_buyer_changed, deal_cancelled, deal_unit_changed

ZERO = Decimal("0")

#: The stages a deal can be changed at; a deal paid in full may be cancelled (a
#: refund) or change its buyer, not change its unit (its price is settled).
CHANGEABLE = {
    Opportunity.Stage.SUBSCRIBED: set(DealChange.Kind.values),
    Opportunity.Stage.CONTRACTED: set(DealChange.Kind.values),
    Opportunity.Stage.PAID: {DealChange.Kind.CANCEL, DealChange.Kind.CHANGE_BUYER},
}
SIGNED = (Opportunity.Stage.CONTRACTED, Opportunity.Stage.PAID)


@dataclass(frozen=True)
class Settlement:
    """What a change does to the buyer's money, as the approver sees it before
    deciding and as the approval records it."""

    # The buyer's money on the deal: what was received less what earlier changes
    # owe or paid back (``refunded``) and less what they kept (``forfeited``).
    received: Decimal
    forfeit: Decimal = ZERO
    refund: Decimal = ZERO
    fee: Decimal = ZERO
    # A change of unit: the new price and what is still to pay against it.
    new_price: Decimal | None = None
    outstanding: Decimal | None = None
    # Refunds and forfeits of earlier changes: the plan's lines still count that
    # money received.
    refunded: Decimal = ZERO
    forfeited: Decimal = ZERO


def rule_of(deal: Opportunity) -> ChangeRule | None:
    """The project's rule (select_related("project__change_rule") saves the query)."""
    try:
        return deal.project.change_rule
    except ChangeRule.DoesNotExist:
        return None


def settlement(
    *,
    deal: Opportunity,
    kind: str,
    new_unit: Unit | None = None,
    items: list[PaymentItem] | None = None,
    rule: ChangeRule | None = None,
) -> Settlement:
    """The money of a change under the project's rule (ChangeRule; none: nothing is
    kept, no fee). The forfeit is never more than what was received, so the refund
    is never negative. Money an earlier change owes back (a DealRefund) or kept (the
    deal's ``forfeited``) is no longer the buyer's on the deal: it is neither
    refunded again nor counted against a new price."""
    if items is None:
        # A page of approvals prefetches them.
        items = list(deal.payment_items.all())
    if rule is None:
        rule = rule_of(deal)
    # deal.refunds prefetched on a page of approvals; none for most deals.
    refunded = sum((r.amount for r in deal.refunds.all()), start=ZERO)
    forfeited = deal.forfeited
    received = sum((i.received for i in items), start=ZERO) - refunded - forfeited
    due = sum((i.amount for i in items), start=ZERO)

    def forfeit() -> Decimal:
        if rule is None:
            return ZERO
        return min(
            rule.forfeit_for(stage=deal.stage, price=deal.agreed_price), received
        )

    if kind == DealChange.Kind.CANCEL:
        kept = forfeit()
        return Settlement(
            received=received,
            forfeit=kept,
            refund=received - kept,
            refunded=refunded,
            forfeited=forfeited,
        )
    if kind == DealChange.Kind.CHANGE_UNIT and new_unit is not None:
        kept = ZERO if rule is None or rule.unit_change_keeps_money else forfeit()
        price = quote(unit=new_unit, discount_percent=deal.discount_percent).price
        counted = received - kept
        # Without a plan yet nothing is due: the plan is made at the new price.
        return Settlement(
            received=received,
            forfeit=kept,
            refund=max(counted - price, ZERO),
            new_price=price,
            outstanding=max(price - counted, ZERO) if due else None,
            refunded=refunded,
            forfeited=forfeited,
        )
    return Settlement(
        received=received,
        fee=rule.buyer_change_fee
        if rule is not None and kind == DealChange.Kind.CHANGE_BUYER
        else ZERO,
        refunded=refunded,
        forfeited=forfeited,
    )


def open_for_change(*, now: datetime) -> Q:
    """The units a deal may change to: on sale, or reserved only by a hold past its
    deadline. Such a hold is over whether or not the five-minute sweep has run (as
    unit_reserve treats it); approving the change ends it as the sweep would. A
    unit reserved without a hold is refused, as subscribing refuses it."""
    return Q(status=Unit.Status.AVAILABLE) | Q(
        Exists(lapsed_holds(now).filter(unit=OuterRef("pk"))),
        status=Unit.Status.RESERVED,
    )


def unit_open_for_change(unit: Unit, *, now: datetime | None = None) -> bool:
    """Whether ``unit`` (as read) is open for a change of unit (open_for_change)."""
    if unit.status == Unit.Status.AVAILABLE:
        return True
    return (
        unit.status == Unit.Status.RESERVED
        and lapsed_holds(now or timezone.now()).filter(unit_id=unit.pk).exists()
    )


@transaction.atomic
def deal_change_request(
    *,
    actor: User,
    opportunity: Opportunity,
    kind: str,
    reason: str,
    new_unit: Unit | None = None,
    new_customer: Customer | None = None,
) -> DealChange:
    opportunity = Opportunity.objects.select_for_update().get(pk=opportunity.pk)
    allowed = CHANGEABLE.get(opportunity.stage)
    if allowed is None:
        raise ValidationError(
            _("Only a subscribed, contracted or paid deal can be changed this way.")
        )
    if kind not in allowed:
        raise ValidationError(
            _("A deal paid in full cannot change its unit; cancel it instead.")
        )
    if opportunity.changes.filter(status=DealChange.Status.PENDING).exists():
        raise ValidationError(_("A change of this deal already waits for approval."))
    if kind == DealChange.Kind.CHANGE_UNIT:
        if new_unit is None or new_unit.building.project_id != opportunity.project_id:
            raise ValidationError(_("Choose another unit of the same project."))
        # A hold past its deadline stays until the approval ends it.
        if not unit_open_for_change(new_unit):
            raise UnitUnavailable(new_unit)
        _refuse_session_unit(new_unit)  # sold only in its selection session
    if kind == DealChange.Kind.CHANGE_BUYER:
        if new_customer is None or new_customer.pk == opportunity.customer_id:
            raise ValidationError(_("Choose the new buyer."))
        _refuse_protected_buyer(opportunity, new_customer)
    change = DealChange.objects.create(
        opportunity=opportunity,
        kind=kind,
        reason=reason,
        new_unit=new_unit,
        new_customer=new_customer,
        requested_by=actor,
        stage=opportunity.stage,
    )
    audit_record(actor=actor, instance=change, action=AuditEntry.Action.CREATE)
    asked = (
        sales_events.CHANGE_ASKED_SIGNED
        if opportunity.stage in SIGNED
        else sales_events.CHANGE_ASKED
    )
    for manager in sales_managers_of(opportunity.consultant, opportunity.project):
        notify(
            user=manager,
            entry=asked(
                who=actor.display_name,
                kind=change.kind,
                customer=opportunity.customer.name,
            ),
            url="/sales/approvals/",
            about=[opportunity.customer],
        )
    return change


def _refuse_protected_buyer(deal: Opportunity, customer: Customer) -> None:
    """A change of buyer keeps the deal its consultant's: refused for a customer a
    colleague protects at the project, as opening a deal for them is (the colleague's
    registration is reassigned first)."""
    if protected_by_another(
        customer=customer, project=deal.project, user=deal.consultant
    ):
        raise ValidationError(_("This customer is protected at this project."))


def _log(deal: Opportunity, actor: User, entry, customer: Customer | None = None):
    interaction_log(
        customer=customer or deal.customer,
        kind="system",
        actor=actor,
        link=deal,
        entry=entry,
    )


def _end_selection(deal: Opportunity, unit: Unit) -> None:
    """The unit came from an opening-day selection: that selection no longer holds,
    and the session's screens show the unit back on sale."""
    selections = list(
        Selection.objects.select_for_update()
        .filter(opportunity=deal, unit=unit, cancelled_at__isnull=True)
        .select_related("session")
    )
    now = timezone.now()
    for selection in selections:
        selection.cancelled_at = now
        selection.save(update_fields=["cancelled_at"])
        topic = selection.session.topic
        transaction.on_commit(
            lambda topic=topic: live.publish(
                topic,
                {"unit": unit.pk, "status": Unit.Status.AVAILABLE},
                name="released",
            )
        )


def _refund(
    *, change: DealChange, deal: Opportunity, money: Settlement, amount: Decimal, actor
) -> DealRefund:
    refund = DealRefund.objects.create(
        change=change,
        opportunity=deal,
        received=money.received,
        forfeit=money.forfeit,
        amount=amount,
        created_by=actor,
    )
    if amount == 0:
        # Everything received was forfeited: nothing is left to pay back.
        refund.status = DealRefund.Status.PAID
        refund.paid_at = refund.created_at
        refund.save(update_fields=["status", "paid_at"])
    audit_record(
        actor=actor,
        instance=refund,
        action=AuditEntry.Action.CREATE,
        changes={
            "amount": {"old": "", "new": str(amount)},
            "forfeit": {"old": "", "new": str(money.forfeit)},
        },
    )
    return refund


def _replan(deal: Opportunity, target: Decimal) -> Decimal:
    """Make the plan's lines add up to ``target`` without touching money received:
    more is added to the last line; less comes off the open lines, last first.
    Returns what was received beyond the target (owed back)."""
    items = list(
        PaymentItem.objects.select_for_update()
        .filter(opportunity=deal)
        .order_by("sequence")
    )
    if not items:
        return ZERO
    delta = target - sum((i.amount for i in items), start=ZERO)
    if delta > 0:
        last = items[-1]
        last.amount += delta
        last.save(update_fields=["amount"])
        return ZERO
    cut = -delta
    for item in reversed(items):
        if cut <= 0:
            break
        take = min(item.amount - item.received, cut)
        if take <= 0:
            continue
        item.amount -= take
        cut -= take
        if item.amount == 0 and not item.receipts.exists():
            item.delete()
        else:
            item.save(update_fields=["amount"])
    return cut


def _save_deal(deal: Opportunity, actor: User, fields: list[str], before) -> None:
    deal.save(update_fields=fields)
    audit_change(actor=actor, instance=deal, before=before)


def _cancel(
    change: DealChange, deal: Opportunity, old_unit: Unit, actor: User
) -> Settlement:
    money = settlement(deal=deal, kind=DealChange.Kind.CANCEL)
    signed = deal.stage in SIGNED
    if money.forfeit:
        before = snapshot(deal, ["forfeited"])
        deal.forfeited += money.forfeit
        _save_deal(deal, actor, ["forfeited"], before)
    _set_unit_status(old_unit, Unit.Status.AVAILABLE)
    _end_selection(deal, old_unit)
    because = (
        sales_events.CONTRACT_CANCELLED(
            received=money.received, forfeit=money.forfeit, refund=money.refund
        )
        if signed
        else sales_events.SUBSCRIPTION_CANCELLED()
    )
    deal.move_to(
        Opportunity.Stage.LOST,
        actor=actor,
        reason=Opportunity.LostReason.OTHER,
        because=because,
        note=change.reason,
        change=change,
    )
    if money.received > 0:
        _refund(change=change, deal=deal, money=money, amount=money.refund, actor=actor)
        _log(
            deal,
            actor,
            sales_events.REFUND_DUE(
                amount=money.refund, unit=old_unit.number, forfeit=money.forfeit
            ),
        )
    commission_claw_back(deal=deal, actor=actor)
    # A buyer whose only live deal this was is a prospect again.
    customer_stage_follow_deals(actor=actor, customer=deal.customer)
    deal_cancelled.send(sender=Opportunity, opportunity=deal, actor=actor)
    return money


def _change_unit(
    change: DealChange,
    deal: Opportunity,
    old_unit: Unit,
    actor: User,
    *,
    deals: dict[int, Opportunity],
    now: datetime,
) -> Settlement:
    """``deals``: this deal and the deal of a hold on the new unit past its deadline
    at ``now``, both locked; that hold ends as the sweep would end it (its consultant
    told), as unit_reserve ends it. A hold still valid refuses the unit."""
    new_unit = Unit.objects.select_for_update().get(pk=change.new_unit_id)
    _expire_lapsed_hold(new_unit, deals=deals, now=now, holder=deal)
    if new_unit.status != Unit.Status.AVAILABLE:
        raise UnitUnavailable(new_unit)
    _refuse_session_unit(new_unit)
    money = settlement(deal=deal, kind=DealChange.Kind.CHANGE_UNIT, new_unit=new_unit)
    _set_unit_status(old_unit, Unit.Status.AVAILABLE)
    _set_unit_status(
        new_unit,
        Unit.Status.CONTRACTED if deal.stage in SIGNED else Unit.Status.SUBSCRIBED,
    )
    _end_selection(deal, old_unit)
    before = snapshot(deal, ["unit", "agreed_price", "forfeited"])
    deal.unit = new_unit
    deal.agreed_price = money.new_price
    deal.forfeited += money.forfeit
    _save_deal(deal, actor, ["unit", "agreed_price", "forfeited"], before)
    # A forfeit kept on the change is owed on top of the new price; money already
    # owed back or kept by earlier changes stays on the received lines, so the
    # lines count it too (deal.forfeited: this forfeit and the earlier ones).
    over = _replan(deal, plan_total(deal))
    if over > 0:
        _refund(change=change, deal=deal, money=money, amount=over, actor=actor)
        _log(
            deal,
            actor,
            sales_events.REFUND_DUE(
                amount=over, unit=old_unit.number, forfeit=money.forfeit
            ),
        )
    _log(
        deal,
        actor,
        sales_events.UNIT_CHANGED_REPRICED(
            old=old_unit.number,
            new=new_unit.number,
            price=money.new_price,
            received=money.received - money.forfeit,
        ),
    )
    commission_reprice(deal=deal, actor=actor)
    if deal.stage == Opportunity.Stage.CONTRACTED:
        items = list(deal.payment_items.all())
        due = sum((i.amount for i in items), start=ZERO)
        got = sum((i.received for i in items), start=ZERO)
        if items and got >= due:
            deal.move_to(
                Opportunity.Stage.PAID,
                actor=actor,
                because=sales_events.PAID_IN_FULL(),
            )
            commission_accrue(deal=deal, actor=actor)
    deal_unit_changed.send(
        sender=Opportunity, opportunity=deal, old_unit=old_unit, actor=actor
    )
    return money


def _change_buyer(
    change: DealChange, deal: Opportunity, old_unit: Unit, actor: User
) -> Settlement:
    money = settlement(deal=deal, kind=DealChange.Kind.CHANGE_BUYER)
    old_customer = deal.customer
    new_customer = Customer.objects.get(pk=change.new_customer_id)
    # Protected by a colleague since the request: the manager is told so, nothing changes.
    _refuse_protected_buyer(deal, new_customer)
    before = snapshot(deal, ["customer"])
    deal.customer = new_customer
    _save_deal(deal, actor, ["customer"], before)
    # Co-buyers are the buyer's household: those outside the new buyer's household
    # (and the new buyer themself) are no longer named on the deal.
    co_buyers = CoBuyer.objects.filter(opportunity=deal).select_related("customer")
    dropped = [
        row
        for row in co_buyers
        if row.customer_id == new_customer.pk
        or new_customer.household_id is None
        or row.customer.household_id != new_customer.household_id
    ]
    if dropped:
        CoBuyer.objects.filter(pk__in=[row.pk for row in dropped]).delete()
        audit_record(
            actor=actor,
            instance=deal,
            action=AuditEntry.Action.UPDATE,
            changes={
                "co_buyers": {
                    "old": "、".join(r.customer.name for r in co_buyers),
                    "new": "、".join(
                        r.customer.name for r in co_buyers if r not in dropped
                    ),
                }
            },
        )
    for customer in (old_customer, new_customer):
        _log(
            deal,
            actor,
            sales_events.BUYER_CHANGED(
                unit=old_unit.number, old=old_customer.name, new=new_customer.name
            ),
            customer=customer,
        )
    if money.fee > 0:
        _log(deal, actor, sales_events.CHANGE_FEE(fee=money.fee), customer=new_customer)
    # The new buyer is a buyer now; the old one is what their other deals make them
    # (a prospect again when this was their only one). Customers in id order.
    for customer in sorted((old_customer, new_customer), key=lambda c: c.pk):
        customer_stage_follow_deals(actor=actor, customer=customer)
    deal_buyer_changed.send(
        sender=Opportunity, opportunity=deal, old_customer=old_customer, actor=actor
    )
    return money


@transaction.atomic
def deal_change_decide(
    *, actor: User, change: DealChange, approve: bool, note: str = ""
) -> DealChange:
    """Apply (or refuse) a change. The new unit is locked and re-checked at approval
    time: it may have been sold since the request. Deciding twice (two managers at
    once) does nothing the second time: the change row is locked and no longer
    pending.

    Locks: the change, then the deals in id order (this one and, for a change of
    unit, the deal of a hold on the new unit past its deadline: that hold ends here),
    then the units, then the hold, as unit_reserve takes them."""
    change = DealChange.objects.select_for_update(of=("self",)).get(pk=change.pk)
    if change.status != DealChange.Status.PENDING:
        return change
    if approve:
        refuse_own_approval(change, actor)
    now = timezone.now()
    lapsed_deal_id = (
        lapsed_hold_deal_id(change.new_unit_id, now)
        if approve and change.kind == DealChange.Kind.CHANGE_UNIT
        else None
    )
    # The deal rows only: their customers are locked after the units when needed
    # (customer_stage_follow_deals), in the one lock order.
    deals = {
        deal.pk: deal
        for deal in Opportunity.objects.select_for_update(of=("self",))
        .select_related("customer", "consultant", "project")
        .filter(pk__in={change.opportunity_id, lapsed_deal_id} - {None})
        .order_by("pk")
    }
    deal = deals[change.opportunity_id]
    change.decided_by = actor
    change.decided_at = timezone.now()
    change.decision_note = note
    if not approve:
        change.status = DealChange.Status.REJECTED
        change.save(
            update_fields=["status", "decided_by", "decided_at", "decision_note"]
        )
        audit_record(
            actor=actor,
            instance=change,
            action=AuditEntry.Action.UPDATE,
            changes={"status": {"old": "pending", "new": change.status}},
        )
        told = decision_told(deal, change.requested_by, actor)
        if told is not None:
            notify(
                user=told,
                entry=sales_events.CHANGE_REFUSED(customer=deal.customer.name),
                target=deal,
                about=[deal.customer],
            )
        return change
    if change.kind not in CHANGEABLE.get(deal.stage, set()):
        raise ValidationError(
            _("The deal is at %(stage)s now: this change no longer applies.")
            % {"stage": deal.get_stage_display()}
        )
    old_unit = Unit.objects.select_for_update().get(pk=deal.unit_id)
    if old_unit.status == Unit.Status.HANDED_OVER and change.kind != (
        DealChange.Kind.CHANGE_BUYER
    ):
        raise ValidationError(
            _("Unit %(unit)s has been handed over; it cannot be given back this way.")
            % {"unit": old_unit.number}
        )
    change.before = {
        "unit": deal.unit_id,
        "customer": deal.customer_id,
        "agreed_price": str(deal.agreed_price),
        "stage": deal.stage,
    }
    # move_to() accepts ending a signed contract only with an approved change.
    change.status = DealChange.Status.APPROVED
    if change.kind == DealChange.Kind.CHANGE_UNIT:
        money = _change_unit(change, deal, old_unit, actor, deals=deals, now=now)
    else:
        apply = {
            DealChange.Kind.CANCEL: _cancel,
            DealChange.Kind.CHANGE_BUYER: _change_buyer,
        }[change.kind]
        money = apply(change, deal, old_unit, actor)
    change.fee = money.fee
    change.forfeit = money.forfeit
    change.save(
        update_fields=[
            "status",
            "decided_by",
            "decided_at",
            "decision_note",
            "before",
            "fee",
            "forfeit",
        ]
    )
    changes = {"status": {"old": "pending", "new": change.status}}
    for name in ("fee", "forfeit"):
        if getattr(change, name):
            changes[name] = {"old": "0.00", "new": str(getattr(change, name))}
    audit_record(
        actor=actor,
        instance=change,
        action=AuditEntry.Action.UPDATE,
        changes=changes,
    )
    told = decision_told(deal, change.requested_by, actor)
    if told is not None:
        notify(
            user=told,
            entry=sales_events.CHANGE_APPROVED(kind=change.kind),
            target=deal,
        )
    return change


@transaction.atomic
def deal_refund_mark_paid(*, actor: User, refund: DealRefund) -> bool:
    """Finance paid the refund back; False when it was marked already."""
    refund = DealRefund.objects.select_for_update().get(pk=refund.pk)
    if refund.status == DealRefund.Status.PAID:
        return False
    before = snapshot(refund, ["status", "paid_at", "paid_by"])
    refund.status = DealRefund.Status.PAID
    refund.paid_at = timezone.now()
    refund.paid_by = actor
    refund.save(update_fields=["status", "paid_at", "paid_by"])
    audit_change(actor=actor, instance=refund, before=before)
    deal = Opportunity.objects.select_related("customer").get(pk=refund.opportunity_id)
    _log(deal, actor, sales_events.REFUND_PAID(amount=refund.amount))
    return True


RULE_FIELDS = [
    "forfeit_basis",
    "forfeit_subscribed",
    "forfeit_contracted",
    "buyer_change_fee",
    "unit_change_keeps_money",
]


@transaction.atomic
def change_rule_set(*, actor: User, project, **values) -> ChangeRule:
    """Set the project's rule for changes; changes approved before keep the money
    they recorded. Audited with the old and new values."""
    if values["forfeit_basis"] == "percent" and max(
        values["forfeit_subscribed"], values["forfeit_contracted"]
    ) > Decimal("100"):
        raise ValidationError(_("A percentage is at most 100."))
    rule = ChangeRule.objects.select_for_update().filter(project=project).first()
    if rule is None:
        rule = ChangeRule(project=project)
        before = dict.fromkeys(RULE_FIELDS, "")
    else:
        before = snapshot(rule, RULE_FIELDS)
    for name in RULE_FIELDS:
        setattr(rule, name, values[name])
    rule.updated_by = actor
    rule.updated_at = timezone.now()
    rule.save()
    audit_change(actor=actor, instance=rule, before=before)
    return rule
