"""Changes after subscription: asked by the consultant, applied when a manager approves."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm_site.models import User
from crm_site.notifications import notify
from customers.models import Customer
from customers.services import interaction_log
from sales import events as sales_events
from sales.models import DealChange, Opportunity, Unit
from sales.pricing import quote
from sales.services.deals import UnitUnavailable, _set_unit_status
from sales.services.money import _sales_managers_of


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
    if opportunity.stage != Opportunity.Stage.SUBSCRIBED:
        raise ValidationError(_("Only a subscribed deal can be changed this way."))
    if opportunity.changes.filter(status=DealChange.Status.PENDING).exists():
        raise ValidationError(_("A change of this deal already waits for approval."))
    if kind == DealChange.Kind.CHANGE_UNIT:
        if new_unit is None or new_unit.building.project_id != opportunity.project_id:
            raise ValidationError(_("Choose another unit of the same project."))
        if new_unit.status != Unit.Status.AVAILABLE:
            raise UnitUnavailable(new_unit)
    if kind == DealChange.Kind.CHANGE_BUYER and (
        new_customer is None or new_customer.pk == opportunity.customer_id
    ):
        raise ValidationError(_("Choose the new buyer."))
    change = DealChange.objects.create(
        opportunity=opportunity,
        kind=kind,
        reason=reason,
        new_unit=new_unit,
        new_customer=new_customer,
        requested_by=actor,
    )
    for manager in _sales_managers_of(opportunity.consultant):
        notify(
            user=manager,
            entry=sales_events.CHANGE_ASKED(
                who=actor.display_name,
                kind=change.kind,
                customer=opportunity.customer.name,
            ),
            url="/sales/approvals/",
        )
    return change


@transaction.atomic
def deal_change_decide(
    *, actor: User, change: DealChange, approve: bool, note: str = ""
) -> DealChange:
    """Apply (or refuse) a change. The new unit is locked and re-checked at approval time:
    it may have been sold since the request."""
    change = DealChange.objects.select_for_update(of=("self",)).get(pk=change.pk)
    if change.status != DealChange.Status.PENDING:
        return change
    deal = (
        Opportunity.objects.select_for_update()
        .select_related("customer")
        .get(pk=change.opportunity_id)
    )
    change.decided_by = actor
    change.decided_at = timezone.now()
    change.decision_note = note
    if not approve:
        change.status = DealChange.Status.REJECTED
        change.save(
            update_fields=["status", "decided_by", "decided_at", "decision_note"]
        )
        notify(
            user=change.requested_by,
            entry=sales_events.CHANGE_REFUSED(customer=deal.customer.name),
            target=deal,
        )
        return change
    if deal.stage != Opportunity.Stage.SUBSCRIBED:
        raise ValidationError(_("The deal is no longer subscribed."))
    change.before = {
        "unit": deal.unit_id,
        "customer": deal.customer_id,
        "agreed_price": str(deal.agreed_price),
    }
    old_unit = Unit.objects.select_for_update().get(pk=deal.unit_id)
    if change.kind == DealChange.Kind.CANCEL:
        _set_unit_status(old_unit, Unit.Status.AVAILABLE)
        deal.move_to(
            Opportunity.Stage.LOST,
            actor=actor,
            reason=Opportunity.LostReason.OTHER,
            because=sales_events.SUBSCRIPTION_CANCELLED(),
            note=change.reason,
        )
    elif change.kind == DealChange.Kind.CHANGE_UNIT:
        new_unit = Unit.objects.select_for_update().get(pk=change.new_unit_id)
        if new_unit.status != Unit.Status.AVAILABLE:
            raise UnitUnavailable(new_unit)
        _set_unit_status(old_unit, Unit.Status.AVAILABLE)
        _set_unit_status(new_unit, Unit.Status.SUBSCRIBED)
        deal.unit = new_unit
        deal.agreed_price = quote(
            unit=new_unit, discount_percent=deal.discount_percent
        ).price
        deal.save(update_fields=["unit", "agreed_price"])
        interaction_log(
            customer=deal.customer,
            kind="system",
            actor=actor,
            link=deal,
            entry=sales_events.UNIT_CHANGED(old=old_unit.number, new=new_unit.number),
        )
    else:
        old_customer = deal.customer
        deal.customer = change.new_customer
        deal.save(update_fields=["customer"])
        for customer in (old_customer, change.new_customer):
            interaction_log(
                customer=customer,
                kind="system",
                actor=actor,
                link=deal,
                entry=sales_events.BUYER_CHANGED(
                    unit=old_unit.number,
                    old=old_customer.name,
                    new=change.new_customer.name,
                ),
            )
    change.status = DealChange.Status.APPROVED
    change.save(
        update_fields=["status", "decided_by", "decided_at", "decision_note", "before"]
    )
    notify(
        user=change.requested_by,
        entry=sales_events.CHANGE_APPROVED(kind=change.kind),
        target=deal,
    )
    return change
