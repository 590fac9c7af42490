"""Marketing use cases: campaigns, invitations, responses and attribution."""

from __future__ import annotations

from marketing.services.attribution import deal_campaign_set
from marketing.services.campaigns import (
    campaign_create,
    campaign_move,
    campaign_update,
    campaigns_finish,
    cost_line_add,
    members_snapshot,
)
from marketing.services.invitations import (
    InvitationsRefused,
    invitations_queue,
    invitations_recover,
    invitations_send,
    unsubscribe,
)
from marketing.services.responses import (
    ResponseRefused,
    checkin_by_code,
    lead_assign,
    response_record,
)

__all__ = [
    "InvitationsRefused",
    "ResponseRefused",
    "campaign_create",
    "campaign_move",
    "campaign_update",
    "campaigns_finish",
    "checkin_by_code",
    "cost_line_add",
    "deal_campaign_set",
    "invitations_queue",
    "invitations_recover",
    "invitations_send",
    "lead_assign",
    "members_snapshot",
    "response_record",
    "unsubscribe",
]
