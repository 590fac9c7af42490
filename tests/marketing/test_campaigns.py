from __future__ import annotations

from decimal import Decimal
from unittest import mock

import pytest
from django.core.exceptions import ValidationError

from crm_site.models import AuditEntry
from marketing import services
from marketing.models import Campaign, CampaignMember
from tests.factories import CustomerFactory


def test_starting_a_campaign_snapshots_its_segment_members(campaign, marketer):
    CustomerFactory.create_batch(3, stage="prospect")
    CustomerFactory(stage="owner")
    CustomerFactory(stage="prospect", consent_sms=False)  # not visible to marketing
    services.campaign_move(actor=marketer, campaign=campaign, status="running")
    assert CampaignMember.objects.filter(campaign=campaign).count() == 3
    campaign.refresh_from_db()
    assert campaign.status == "running" and campaign.started_at is not None
    # Customers added later are not members: the snapshot was taken at the start.
    CustomerFactory(stage="prospect")
    services.campaign_move(actor=marketer, campaign=campaign, status="running")
    assert CampaignMember.objects.filter(campaign=campaign).count() == 3


def test_member_snapshot_is_idempotent(campaign, marketer, segment):
    CustomerFactory.create_batch(2, stage="prospect")
    for _ in range(2):
        services.members_snapshot(campaign=campaign, segment=segment, actor=marketer)
    assert CampaignMember.objects.filter(campaign=campaign).count() == 2


def test_campaign_start_is_atomic(campaign, marketer):
    CustomerFactory(stage="prospect")
    with (
        mock.patch(
            "marketing.services.campaigns.audit_record", side_effect=RuntimeError
        ),
        pytest.raises(RuntimeError),
    ):
        services.campaign_move(actor=marketer, campaign=campaign, status="running")
    campaign.refresh_from_db()
    assert campaign.status == "planned"
    assert not CampaignMember.objects.filter(campaign=campaign).exists()


def test_campaign_refuses_illegal_moves(running, marketer):
    services.campaign_move(actor=marketer, campaign=running, status="finished")
    with pytest.raises(ValidationError):
        services.campaign_move(actor=marketer, campaign=running, status="running")


def test_campaign_changes_are_audited(campaign, marketer):
    services.campaign_update(actor=marketer, campaign=campaign, budget=Decimal("5000"))
    services.cost_line_add(
        actor=marketer,
        campaign=campaign,
        spent_on=campaign.starts_on,
        item="场地",
        amount=Decimal("1200"),
    )
    services.campaign_move(actor=marketer, campaign=campaign, status="cancelled")
    entries = AuditEntry.objects.filter(object_id=campaign.pk).order_by("pk")
    changed = [set(e.changes) for e in entries]
    assert changed[1] == {"budget"}
    assert changed[2] == {"cost_lines"}
    assert changed[3] == {"status"}
    assert Campaign.objects.get(pk=campaign.pk).ended_at is not None
