from __future__ import annotations

from customers.services.merge import customer_merge, customer_merge_restore
from marketing import services
from marketing.models import CampaignMember, Response
from tests.factories import CustomerFactory
from tests.marketing.conftest import make_campaign


def test_memberships_follow_a_merged_customer_and_come_back_on_undo(
    running, marketer, sales_manager, consultant, project
):
    survivor = CustomerFactory(assigned_consultant=consultant)
    absorbed = CustomerFactory(assigned_consultant=consultant)
    member = CampaignMember.objects.create(campaign=running, customer=absorbed)
    services.checkin_by_code(actor=marketer, campaign=running, code=member.code)
    # Both were invited to another campaign: that membership stays where it was.
    other = make_campaign(marketer, project, name="另一场")
    CampaignMember.objects.create(campaign=other, customer=survivor)
    twin = CampaignMember.objects.create(campaign=other, customer=absorbed)

    record = customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
    )
    member.refresh_from_db()
    assert member.customer == survivor
    assert Response.objects.get().customer == survivor
    assert CampaignMember.objects.get(pk=twin.pk).customer == absorbed
    assert record.moved["marketing.campaignmember"] == [member.pk]

    customer_merge_restore(actor=sales_manager, record=record)
    member.refresh_from_db()
    assert member.customer == absorbed
    assert Response.objects.get().customer == absorbed


def test_the_timeline_links_to_the_campaign(running, marketer, consultant):
    from customers.models import Interaction

    member = CampaignMember.objects.create(
        campaign=running, customer=CustomerFactory(assigned_consultant=consultant)
    )
    services.checkin_by_code(actor=marketer, campaign=running, code=member.code)
    entry = Interaction.objects.get(customer=member.customer)
    assert entry.link_url == running.get_absolute_url()
