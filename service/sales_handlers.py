"""What service does when sales tells it about a deal (see sales.signals): a
handover appointment follows the deal it was made for."""

from __future__ import annotations


def on_deal_cancelled(sender, *, opportunity, actor=None, **kwargs) -> None:
    """退房: the former buyer's open handover appointment is cancelled."""
    from service.handover import appointments_cancel

    if opportunity.unit_id is None:
        return
    appointments_cancel(
        actor=actor, unit_id=opportunity.unit_id, customer_id=opportunity.customer_id
    )


def on_deal_buyer_changed(
    sender, *, opportunity, old_customer, actor=None, **kwargs
) -> None:
    """更名: the former buyer's open appointment is cancelled; the new buyer is
    invited in its place."""
    from service.handover import appointments_transfer

    if opportunity.unit_id is None:
        return
    appointments_transfer(
        actor=actor,
        unit_id=opportunity.unit_id,
        old_customer_id=old_customer.pk,
        new_customer_id=opportunity.customer_id,
    )


def on_deal_unit_changed(
    sender, *, opportunity, old_unit, actor=None, **kwargs
) -> None:
    """换房: the buyer's open appointment for the old unit is cancelled (a later
    batch of the new unit's building invites them there)."""
    from service.handover import appointments_cancel

    appointments_cancel(
        actor=actor, unit_id=old_unit.pk, customer_id=opportunity.customer_id
    )


def connect() -> None:
    from sales.signals import deal_buyer_changed, deal_cancelled, deal_unit_changed

    deal_unit_changed.connect(
        on_deal_unit_changed, dispatch_uid="service.on_deal_unit_changed"
    )

    deal_cancelled.connect(on_deal_cancelled, dispatch_uid="service.on_deal_cancelled")
    deal_buyer_changed.connect(
        on_deal_buyer_changed, dispatch_uid="service.on_deal_buyer_changed"
    )
