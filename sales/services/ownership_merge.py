"""Ownership follows a customer merge by the protection rules, and its undo.

Registrations at projects only one of the two customers is registered at simply move to
the survivor. Where both are protected at the same project, the earlier still-valid
protection wins (valid: not past its date, or held by a subscribed or contracted deal);
the other registration ends, its consultant is told, and both facts are written on the
survivor's ownership history. Access rows follow the protected registrations, and the
absorbed customer's consultant keeps sight of the survivor unless their protection lost.

The undo moves the registrations back, revives the ended ones with their original dates
and writes "merge undone" on the history instead of deleting what the merge wrote.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Exists, OuterRef
from django.utils import timezone

from crm_site.audit import audit_record
from crm_site.events import Entry
from crm_site.models import AuditEntry, User
from crm_site.notifications import notify
from customers.models import Customer, CustomerAccess, MergeRecord
from customers.services import customer_owner_set
from sales import events as sales_events
from sales.models import Opportunity, OwnershipEvent, Registration
from sales.services.ownership import name_for_broker, outside_partner

REGISTRATIONS_KEY = "sales.registration"
ACCESS_KEY = "customers.customeraccess"
# Access a merge grants to the absorbed customer's consultant when no rule gives it.
MERGE_ACCESS_REASON = "merge"
REGISTRATION_ACCESS_REASON = "registration"
DEAL_STAGES = (Opportunity.Stage.SUBSCRIBED, Opportunity.Stage.CONTRACTED)


def _label(customer: Customer) -> str:
    return f"{customer.name} (#{customer.pk})"


def _day(moment: datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d}"


def _summary(registrations: list[Registration]) -> str:
    """The protected registrations as audit text: 'project: consultant (until)'."""
    return "; ".join(
        sorted(
            f"{r.project.name}: {r.consultant.display_name} ({_day(r.protected_until)})"
            for r in registrations
        )
    )


def _deal_held(customer_ids: list[int]) -> set[tuple[int, int]]:
    """(project, consultant) of deals that hold protection; either customer's count,
    since the deals may already have moved to the survivor."""
    return set(
        Opportunity.objects.filter(
            customer_id__in=customer_ids, stage__in=DEAL_STAGES
        ).values_list("project_id", "consultant_id")
    )


def _winner(
    mine: Registration,
    theirs: Registration,
    *,
    now: datetime,
    deal_held: set[tuple[int, int]],
) -> tuple[Registration, Registration]:
    """(winner, loser): the earlier still-valid protection; validity first."""

    def rank(r: Registration) -> tuple[bool, datetime, int]:
        valid = r.protected_until >= now or (
            (r.project_id, r.consultant_id) in deal_held
        )
        return (not valid, r.registered_at, r.pk)

    first, second = sorted([mine, theirs], key=rank)
    return first, second


def _event(
    registration: Registration,
    *,
    customer: Customer,
    kind: str,
    because: Entry,
    **fields: Any,
) -> OwnershipEvent:
    return OwnershipEvent(
        event=because.code,
        params=because.params,
        registration=registration,
        customer=customer,
        project_id=registration.project_id,
        consultant_id=registration.consultant_id,
        rule_version=registration.rule.version,
        protected_until=registration.protected_until,
        kind=kind,
        **fields,
    )


def registrations_merge(
    *, survivor: Customer, absorbed: Customer, record: MergeRecord
) -> tuple[dict[str, list[int]], dict[str, Any]]:
    """Move the absorbed customer's registrations to the survivor, settling each
    project both are protected at. Runs inside customer_merge's transaction, after
    the customers app moved the access rows. Returns the moved ids and the state the
    undo needs."""
    now, actor = record.merged_at, record.merged_by
    # Locked: the lapse sweep (SKIP LOCKED) must not end one while the merge decides.
    registrations = list(
        Registration.objects.select_for_update(of=("self",))
        .filter(customer_id__in=[survivor.pk, absorbed.pk])
        .select_related("project", "consultant", "rule")
        .order_by("pk")
    )
    theirs = [r for r in registrations if r.customer_id == absorbed.pk]
    mine = {
        r.project_id: r
        for r in registrations
        if r.customer_id == survivor.pk and r.status == Registration.Status.PROTECTED
    }
    before = list(mine.values())
    deal_held = _deal_held([survivor.pk, absorbed.pk])
    contests: list[tuple[Registration, Registration]] = []
    arrived: list[Registration] = []
    for registration in theirs:
        if registration.status != Registration.Status.PROTECTED:
            continue
        other = mine.get(registration.project_id)
        if other is None:
            arrived.append(registration)
        else:
            contests.append(_winner(registration, other, now=now, deal_held=deal_held))
    losers = [loser for _winner_, loser in contests]
    # End the losers first: one protected registration per customer and project.
    Registration.objects.filter(pk__in=[r.pk for r in losers]).update(
        status=Registration.Status.ENDED, ended_at=now
    )
    moved_ids = [r.pk for r in theirs]
    Registration.objects.filter(pk__in=moved_ids).update(customer=survivor)
    for registration in losers:
        registration.status, registration.ended_at = Registration.Status.ENDED, now
    for registration in theirs:
        registration.customer = survivor

    events = [
        _event(
            registration,
            customer=survivor,
            kind=OwnershipEvent.Kind.MERGE_MOVED,
            actor=actor,
            at=now,
            because=sales_events.MERGE_CAME_WITH(absorbed=_label(absorbed)),
        )
        for registration in arrived
    ]
    for winner, loser in contests:
        events.append(
            _event(
                winner,
                customer=survivor,
                kind=OwnershipEvent.Kind.MERGE_KEPT,
                actor=actor,
                at=now,
                because=sales_events.MERGE_WINS(
                    absorbed=_label(absorbed),
                    day=timezone.localtime(winner.registered_at),
                    other=loser.consultant.display_name,
                    other_day=timezone.localtime(loser.registered_at),
                ),
            )
        )
        events.append(
            _event(
                loser,
                customer=survivor,
                kind=OwnershipEvent.Kind.MERGE_ENDED,
                actor=actor,
                at=now,
                because=sales_events.MERGE_LOSES(
                    absorbed=_label(absorbed),
                    owner=winner.consultant.display_name,
                    day=timezone.localtime(winner.registered_at),
                ),
            )
        )
    written = OwnershipEvent.objects.bulk_create(events)

    protected = [
        r
        for r in registrations
        if r.customer_id == survivor.pk and r.status == Registration.Status.PROTECTED
    ]
    access_state = _access_follow(
        survivor=survivor,
        absorbed_owner_id=record.absorbed_before.get("assigned_consultant"),
        holders={r.consultant_id for r in protected},
        lost={r.consultant_id for r in losers},
    )
    _owner_follow(
        actor=actor, survivor=survivor, protected=protected, contests=contests
    )

    _tell_consultants(
        survivor=survivor, absorbed=absorbed, contests=contests, arrived=arrived
    )

    changes: dict[str, dict[str, str]] = {}
    if _summary(protected) != _summary(before):
        changes["registrations"] = {
            "old": _summary(before),
            "new": _summary(protected),
        }
    audit_access = access_state.pop("audit")
    if access_state["added"] or access_state["removed"]:
        changes["access"] = audit_access
    if changes:
        # Ownership is part of the customer record: its change is audited too.
        audit_record(
            actor=actor,
            instance=survivor,
            action=AuditEntry.Action.UPDATE,
            changes=changes,
        )
    state = {
        "ended": sorted(r.pk for r in losers),
        "events": sorted(e.pk for e in written),
        **access_state,
    }
    return {REGISTRATIONS_KEY: moved_ids}, state


def _projects(registrations: list[Registration]) -> str:
    return ", ".join(sorted(r.project.name for r in registrations))


def _tell_consultants(
    *,
    survivor: Customer,
    absorbed: Customer,
    contests: list[tuple[Registration, Registration]],
    arrived: list[Registration],
) -> None:
    """One message per consultant: whose registration ended, and why; whose
    protection now applies to the survivor. A consultant whose registration ended
    gets no link: the customer may no longer be theirs to open."""
    lost: dict[int, list[tuple[Registration, Registration]]] = {}
    for winner, loser in contests:
        lost.setdefault(loser.consultant_id, []).append((winner, loser))
    for pairs in lost.values():
        if outside_partner(pairs[0][1].consultant):
            # A channel partner's broker: the customer they registered went to the
            # sales office, under the name they gave; nothing of the CRM's records.
            for _winner, loser in pairs:
                notify(
                    user=loser.consultant,
                    entry=sales_events.HANDED_TO_SALES_OFFICE(
                        customer=name_for_broker(loser)
                    ),
                )
            continue
        notify(
            user=pairs[0][1].consultant,
            entry=sales_events.MERGE_REGISTRATION_ENDED(
                absorbed=absorbed.name,
                survivor=survivor.name,
                # Names and days: the same in every language.
                projects="; ".join(
                    sorted(
                        f"{loser.project.name} ({winner.consultant.display_name}, "
                        f"{_day(winner.registered_at)})"
                        for winner, loser in pairs
                    )
                ),
            ),
            about=[survivor, absorbed],
        )
    kept_on: dict[int, list[Registration]] = {}
    for registration in arrived:
        kept_on.setdefault(registration.consultant_id, []).append(registration)
    for mine in kept_on.values():
        if outside_partner(mine[0].consultant):
            continue  # the broker's registration goes on as it was, under their name
        notify(
            user=mine[0].consultant,
            entry=sales_events.MERGE_PROTECTION_CONTINUES(
                absorbed=absorbed.name,
                survivor=survivor.name,
                projects=_projects(mine),
            ),
            target=survivor,
        )


def _access_follow(
    *,
    survivor: Customer,
    absorbed_owner_id: int | None,
    holders: set[int],
    lost: set[int],
) -> dict[str, Any]:
    """Bring the survivor's access rows in line with its protected registrations:
    every holder has a row, a consultant whose protection ended has none, and the
    absorbed customer's consultant keeps sight of the survivor unless they lost."""
    rows = list(CustomerAccess.objects.filter(customer=survivor).select_related("user"))
    having = {row.user_id for row in rows}
    losing = [
        row
        for row in rows
        if row.reason == REGISTRATION_ACCESS_REASON and row.user_id not in holders
    ]
    grants = dict.fromkeys(holders - having, REGISTRATION_ACCESS_REASON)
    if (
        absorbed_owner_id
        and absorbed_owner_id != survivor.assigned_consultant_id
        and absorbed_owner_id not in lost | having | holders
    ):
        grants[absorbed_owner_id] = MERGE_ACCESS_REASON
    removed = [
        {
            "id": row.pk,
            "user_id": row.user_id,
            "reason": row.reason,
            "granted_at": row.granted_at.isoformat(),
        }
        for row in losing
    ]
    CustomerAccess.objects.filter(pk__in=[row.pk for row in losing]).delete()
    added = CustomerAccess.objects.bulk_create(
        CustomerAccess(customer=survivor, user_id=user_id, reason=reason)
        for user_id, reason in grants.items()
    )
    names_before = sorted(row.user.display_name for row in rows)
    kept_names = [row.user.display_name for row in rows if row not in losing]
    new_names = (
        [user.display_name for user in User.objects.filter(pk__in=list(grants))]
        if grants
        else []
    )
    return {
        "added": sorted(row.pk for row in added),
        "removed": removed,
        "audit": {
            "old": ", ".join(names_before),
            "new": ", ".join(sorted(kept_names + new_names)),
        },
    }


def _owner_follow(
    *,
    actor: User | None,
    survivor: Customer,
    protected: list[Registration],
    contests: list[tuple[Registration, Registration]],
) -> None:
    """The primary consultant may not be one whose protection the merge ended: the
    consultant who won that project takes the customer."""
    holders = {r.consultant_id for r in protected}
    owner_id = survivor.assigned_consultant_id
    for winner, loser in contests:
        if loser.consultant_id == owner_id and owner_id not in holders:
            customer_owner_set(actor=actor, customer=survivor, owner=winner.consultant)
            return


def registrations_merge_restore(
    *,
    survivor: Customer,
    absorbed: Customer,
    record: MergeRecord,
    moved: dict[str, list[int]],
    state: dict[str, Any],
    actor: User | None = None,
) -> None:
    """Undo registrations_merge: registrations go back, the ended ones are protected
    again with their original dates (unless the project is protected by someone else
    since), access rows are as they were, and the history says the merge was undone."""
    now = timezone.now()
    before = _protected_of([survivor.pk, absorbed.pk])
    back = moved.get(REGISTRATIONS_KEY, [])
    Registration.objects.filter(pk__in=back).update(customer=absorbed)
    ended = state.get("ended", [])
    taken = Registration.objects.filter(
        customer=OuterRef("customer"),
        project=OuterRef("project"),
        status=Registration.Status.PROTECTED,
    )
    Registration.objects.filter(pk__in=ended, status=Registration.Status.ENDED).exclude(
        Exists(taken)
    ).update(status=Registration.Status.PROTECTED, ended_at=None)
    # What the merge wrote about a registration goes back with it.
    OwnershipEvent.objects.filter(
        pk__in=state.get("events", []), registration_id__in=back
    ).update(customer=absorbed)

    CustomerAccess.objects.filter(pk__in=state.get("added", [])).delete()
    from_absorbed = set(moved.get(ACCESS_KEY, []))
    CustomerAccess.objects.bulk_create(
        [
            CustomerAccess(
                pk=row["id"],
                customer=absorbed if row["id"] in from_absorbed else survivor,
                user_id=row["user_id"],
                reason=row["reason"],
                granted_at=datetime.fromisoformat(row["granted_at"]),
            )
            for row in state.get("removed", [])
        ],
        ignore_conflicts=True,
    )

    touched = list(
        Registration.objects.filter(pk__in=[*back, *ended])
        .select_related("project", "consultant", "rule")
        .order_by("pk")
    )
    revived = {r.pk for r in touched if r.pk in ended and r.status == "protected"}
    customers = {survivor.pk: survivor, absorbed.pk: absorbed}
    events = []
    for registration in touched:
        if registration.pk in ended and registration.pk not in revived:
            because = sales_events.MERGE_UNDONE_NOT_PROTECTED()
        elif registration.pk in revived:
            because = sales_events.MERGE_UNDONE_PROTECTED_AGAIN(
                until=timezone.localtime(registration.protected_until)
            )
        elif registration.status == Registration.Status.PROTECTED:
            because = sales_events.MERGE_UNDONE_BACK_WITH(customer=_label(absorbed))
        else:
            continue
        events.append(
            _event(
                registration,
                customer=customers[registration.customer_id],
                kind=OwnershipEvent.Kind.MERGE_UNDONE,
                actor=actor,
                at=now,
                because=because,
            )
        )
    OwnershipEvent.objects.bulk_create(events)

    # One message per consultant and customer, however many projects.
    back_to: dict[tuple[int, int], list[Registration]] = {}
    for registration in touched:
        if registration.status == Registration.Status.PROTECTED:
            key = (registration.consultant_id, registration.customer_id)
            back_to.setdefault(key, []).append(registration)
    for (_user_id, customer_id), mine in back_to.items():
        customer = customers[customer_id]
        if outside_partner(mine[0].consultant):
            notify(
                user=mine[0].consultant,
                entry=sales_events.PROTECTION_RESTORED(
                    customer=name_for_broker(mine[0]), projects=_projects(mine)
                ),
            )
            continue
        notify(
            user=mine[0].consultant,
            entry=sales_events.MERGE_UNDONE_PROTECTION(
                absorbed=absorbed.name,
                survivor=survivor.name,
                customer=customer.name,
                projects=_projects(mine),
            ),
            target=customer,
        )
    after = _protected_of([survivor.pk, absorbed.pk])
    for customer in (survivor, absorbed):
        old = _summary([r for r in before if r.customer_id == customer.pk])
        new = _summary([r for r in after if r.customer_id == customer.pk])
        if old != new:
            audit_record(
                actor=actor,
                instance=customer,
                action=AuditEntry.Action.UPDATE,
                changes={"registrations": {"old": old, "new": new}},
            )


def _protected_of(customer_ids: list[int]) -> list[Registration]:
    return list(
        Registration.objects.filter(
            customer_id__in=customer_ids, status=Registration.Status.PROTECTED
        ).select_related("project", "consultant")
    )
