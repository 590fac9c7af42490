"""Planning and running campaigns: create, edit, cost lines, start (with the member
snapshot), finish or cancel. Every change is in the audit trail."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm_site.audit import audit_record, diff, snapshot
from crm_site.models import AuditEntry, User
from marketing.models import Campaign, CampaignMember, CostLine, Invitation, Segment
from marketing.selectors import segment_customers

AUDITED_FIELDS = [*Campaign.EDITABLE_FIELDS, "status"]
ENDED = (Campaign.Status.FINISHED, Campaign.Status.CANCELLED)
# Fixed once the campaign starts: its members were copied from them.
START_FIELDS = ("segment", "min_level")


def _refuse_ended(campaign: Campaign) -> None:
    """A finished or cancelled campaign is read-only (docs/marketing.md); the caller
    holds the row lock, so a move committed since its form was read is seen. By the
    recorded status: a running campaign past its end date takes no sign-ups, but
    may still be extended (a later end date revives it) until it is recorded as
    finished."""
    if campaign.status in ENDED:
        raise ValidationError(_("A finished or cancelled campaign cannot change."))


@transaction.atomic
def campaign_create(*, actor: User, **fields: Any) -> Campaign:
    campaign = Campaign.objects.create(created_by=actor, **fields)
    audit_record(
        actor=actor,
        instance=campaign,
        action=AuditEntry.Action.CREATE,
        changes=diff(campaign, dict.fromkeys(AUDITED_FIELDS, "")),
    )
    return campaign


@transaction.atomic
def campaign_update(*, actor: User, campaign: Campaign, **fields: Any) -> Campaign:
    """Edit a planned or running campaign; ValidationError once it is recorded as
    finished or cancelled. The segment and club level change only while it is
    planned (a start committed after the form was read keeps them)."""
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    _refuse_ended(locked)
    if locked.status != Campaign.Status.PLANNED:
        fields = {k: v for k, v in fields.items() if k not in START_FIELDS}
    before = snapshot(locked, AUDITED_FIELDS)
    for name, value in fields.items():
        setattr(locked, name, value)
    changes = diff(locked, before)
    if changes:
        locked.save()
        audit_record(
            actor=actor,
            instance=locked,
            action=AuditEntry.Action.UPDATE,
            changes=changes,
        )
    return locked


@transaction.atomic
def cost_line_add(*, actor: User, campaign: Campaign, **fields: Any) -> CostLine:
    """Record money spent, whatever the campaign's status: invoices arrive after
    the event, and a cancelled one may have cost something (its return figures
    leave cancelled campaigns out)."""
    line = CostLine.objects.create(campaign=campaign, created_by=actor, **fields)
    audit_record(
        actor=actor,
        instance=campaign,
        action=AuditEntry.Action.UPDATE,
        changes={
            "cost_lines": {
                "old": "",
                "new": f"{line.spent_on} {line.item} {line.amount}",
            }
        },
    )
    return line


def members_snapshot(*, campaign: Campaign, segment: Segment, actor: User) -> int:
    """Copy the segment's current members into the campaign in one INSERT ... SELECT.

    The database does the work (no rows travel through Python, so a million members
    take one statement, each member's random code drawn by the column default); the
    unique (campaign, customer) index makes a repeat add nobody twice. A member whose
    random code collided with another's (unique per campaign) is skipped by the same
    ON CONFLICT, so the statement runs again until it adds nobody: usually twice.
    Members are those the starting user may see; for a club event, only the members
    of its level or above."""
    members = segment_customers(user=actor, criteria=segment.criteria)
    if campaign.min_level_id:
        # A club event: only members whose balance reaches the level are invited.
        members = members.filter(
            club_member__balance__gte=campaign.min_level.min_points
        )
    members = members.order_by().values("pk")
    select_sql, params = members.query.sql_with_params()
    table = connection.ops.quote_name(CampaignMember._meta.db_table)
    added = 0
    with connection.cursor() as cursor:
        for _pass in range(5):
            cursor.execute(
                f"INSERT INTO {table} (campaign_id, customer_id, added_at) "
                f"SELECT %s, matched.pk, %s FROM ({select_sql}) AS matched (pk) "
                "ON CONFLICT DO NOTHING",
                [campaign.pk, timezone.now(), *params],
            )
            if cursor.rowcount == 0:
                break
            added += cursor.rowcount
    return added


@transaction.atomic
def campaign_move(*, actor: User | None, campaign: Campaign, status: str) -> Campaign:
    """Start, finish or cancel. Starting snapshots the segment's members in the same
    transaction: either the campaign runs with its members, or neither happened.
    Repeating a move does nothing."""
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    old = locked.status
    if not locked.move_to(status):
        return locked
    changes = {"status": {"old": old, "new": status}}
    if status == Campaign.Status.RUNNING and locked.segment_id:
        added = members_snapshot(campaign=locked, segment=locked.segment, actor=actor)
        changes["members"] = {"old": "", "new": str(added)}
    elif status in (Campaign.Status.FINISHED, Campaign.Status.CANCELLED):
        # An ended campaign invites nobody more.
        Invitation.objects.filter(
            campaign=locked, status=Invitation.Status.PENDING
        ).update(status=Invitation.Status.WITHDRAWN)
    audit_record(
        actor=actor, instance=locked, action=AuditEntry.Action.UPDATE, changes=changes
    )
    return locked


def campaigns_finish(*, today: date | None = None) -> int:
    """Finish the running campaigns whose end date has passed (a calendar day in
    Asia/Shanghai: a campaign runs through it). Each is a campaign_move by the
    system, under the campaign's row lock and in the audit trail like a marketer's;
    a campaign finished meanwhile, by hand or by another run, is left as it is.
    Returns how many this run finished."""
    finished = 0
    due = Campaign.objects.past_end(today).order_by("pk").values_list("pk", flat=True)
    for pk in list(due):
        with transaction.atomic():
            locked = Campaign.objects.select_for_update().get(pk=pk)
            if not locked.past_end:
                continue  # finished, cancelled or extended since the list was read
            campaign_move(actor=None, campaign=locked, status=Campaign.Status.FINISHED)
            finished += 1
    return finished
