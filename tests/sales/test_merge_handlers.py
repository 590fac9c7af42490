from __future__ import annotations

from customers.services.merge import customer_merge, customer_merge_restore
from sales import services
from sales.models import Opportunity
from tests.factories import CustomerFactory, make_building


def test_deals_follow_a_merged_customer_and_come_back_on_undo(
    db, consultant, sales_manager
):
    building = make_building()
    survivor = CustomerFactory(assigned_consultant=consultant)
    absorbed = CustomerFactory(assigned_consultant=consultant)
    deal = services.opportunity_open(
        actor=consultant, customer=absorbed, project=building.project
    )
    record = customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
    )
    assert Opportunity.objects.get(pk=deal.pk).customer == survivor
    assert record.moved["sales.opportunity"] == [deal.pk]
    customer_merge_restore(actor=sales_manager, record=record)
    assert Opportunity.objects.get(pk=deal.pk).customer == absorbed
