"""A handover appointment follows its deal on 换房 too: the old unit's appointment
ends and the unit's next buyer is invited."""

from __future__ import annotations

import pytest

from sales import services as sales_services
from sales.models import Opportunity, Unit
from service import handover
from service.models import HandoverAppointment
from tests.service.conftest import sell

pytestmark = pytest.mark.django_db


def test_a_unit_change_frees_the_old_unit_for_its_next_buyer(
    invited,
    batch,
    building,
    consultant,
    sales_manager,
    service_manager,
):
    appointment = invited[0]
    old_unit = appointment.unit
    deal = Opportunity.objects.get(unit=old_unit, stage=Opportunity.Stage.CONTRACTED)
    invited_units = {a.unit_id for a in invited}
    new_unit = (
        building.units.filter(status=Unit.Status.AVAILABLE)
        .exclude(pk__in=invited_units)
        .order_by("pk")
        .first()
    )
    change = sales_services.deal_change_request(
        actor=consultant,
        opportunity=deal,
        kind="change_unit",
        reason="换房",
        new_unit=new_unit,
    )
    sales_services.deal_change_decide(actor=sales_manager, change=change, approve=True)
    deal.refresh_from_db()
    assert deal.unit_id == new_unit.pk
    assert Unit.objects.get(pk=old_unit.pk).status == Unit.Status.AVAILABLE

    # The old unit is sold again; the batch is invited again.
    next_deal = sell(Unit.objects.get(pk=old_unit.pk), consultant)
    handover.batch_invite(actor=service_manager, batch=batch)

    assert HandoverAppointment.objects.filter(
        unit=old_unit, customer=next_deal.customer
    ).exists(), "the old unit's next buyer is never invited"
    appointment.refresh_from_db()
    assert appointment.status == HandoverAppointment.Status.CANCELLED
