"""A campaign response whose guest was merged away after the link was read: refused
under the customer's lock, as a link read after the merge is (fifth review round)."""

from __future__ import annotations

from unittest import mock

import pytest

from customers.services.merge import customer_merge
from marketing import services
from marketing.models import CampaignMember, Response
from marketing.services.responses import ResponseRefused
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_a_guest_merged_away_after_the_link_was_read_is_refused(
    campaign, marketer, sales_manager
):
    services.campaign_move(actor=marketer, campaign=campaign, status="running")
    survivor = CustomerFactory(name="王五", mobile="+8613800000001")
    twin = CustomerFactory(name="王五", mobile="+8613800000002")
    member = CampaignMember.objects.create(campaign=campaign, customer=twin)
    member = CampaignMember.objects.select_related("customer").get(pk=member.pk)
    assert not member.customer.is_gone  # read before the merge committed
    customer_merge(actor=sales_manager, survivor=survivor, absorbed=twin, choices={})
    with (
        mock.patch("marketing.tasks.invitations_send.delay"),
        pytest.raises(ResponseRefused),
    ):
        services.response_record(actor=None, member=member, kind="signup")
    assert not Response.objects.filter(customer_id=twin.pk).exists()
