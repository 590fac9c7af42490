"""Approving and paying what referrals and partners earn: one step, locked and audited."""

from __future__ import annotations

from django.db import transaction

from crm_site.audit import audit_record
from crm_site.models import AuditEntry, User
from marketing.models.payouts import Payout


@transaction.atomic
def payout_move(*, actor: User, payout: Payout, status: str) -> bool:
    """Approve or pay a reward or commission. Under a row lock, so two clicks (or two
    people) pay once; the second gets False."""
    locked = type(payout).objects.select_for_update().get(pk=payout.pk)
    old = locked.status
    moved = locked.move_to(status, actor=actor)
    if moved:
        audit_record(
            actor=actor,
            instance=locked,
            action=AuditEntry.Action.UPDATE,
            changes={"status": {"old": old, "new": status}},
        )
    payout.refresh_from_db()
    return moved


def payouts_withdraw(*, actor: User | None, payouts) -> dict[int, Payout]:
    """The deal that earned them was cancelled: what is still unpaid (due or approved)
    is withdrawn — deleted under its row lock, with an audit entry that keeps its
    amount and status; a paid one stays (getting it back is a person's matter).
    Returns the withdrawn payouts by the id they had (the deleted instances keep
    their other fields), empty when none was."""
    withdrawn: dict[int, Payout] = {}
    for payout in payouts.select_for_update():
        if payout.status == Payout.Status.PAID:
            continue
        audit_record(
            actor=actor,
            instance=payout,
            action=AuditEntry.Action.DELETE,
            changes={
                "status": {"old": payout.status, "new": ""},
                "amount": {"old": str(payout.amount), "new": ""},
            },
        )
        pk = payout.pk
        payout.delete()
        withdrawn[pk] = payout
    return withdrawn
