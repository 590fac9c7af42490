"""Duplicate customers: the set-based scan, dismissal, merge and its undo.

A merge is reversible by design: the MergeRecord keeps both customers' values before
the merge and the ids of every row each app moved, so a restore puts everything back.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any, Literal

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from crm_site import webhooks
from crm_site.audit import audit_record, diff, snapshot
from crm_site.models import AuditEntry, User
from customers import events as customer_events
from customers.models import (
    ContactPoint,
    Customer,
    DuplicatePair,
    Interaction,
    MergeRecord,
    Tag,
)
from customers.services.records import AUDITED_FIELDS, refresh_derived_fields
from customers.services.timeline import interaction_log
from customers.signals import customer_merge_restored, customer_merged

Side = Literal["survivor", "absorbed"]
SIDES: tuple[str, ...] = ("survivor", "absorbed")

# The fields a person chooses between when merging (the same the audit trail shows).
MERGE_FIELDS: list[str] = list(AUDITED_FIELDS)

# Everything a restore needs to put a customer back exactly: every concrete field a
# person can edit, plus the values derived from them.
SNAPSHOT_FIELDS: list[str] = [
    field.name
    for field in Customer._meta.concrete_fields
    if (field.editable and not field.primary_key)
    or field.name in ("id_number_hash", "name_pinyin", "name_initials")
]

# Kept in MergeRecord.survivor_before beside the snapshot: ContactPoint ids the merge
# created on the survivor (the number that lost the choice), removed on restore.
ADDED_POINTS_KEY = "added_contact_points"

SCAN_BATCH = 2000


class MergeRefused(Exception):
    """A merge or restore that must not happen; the message is shown to the user."""


# The scan -------------------------------------------------------------------------


def _scan_sql() -> tuple[str, list[Any]]:
    """Candidate pairs with their reasons, each pair once (first < second).

    Every branch is a self-join on an indexed column, so PostgreSQL does the work in a
    few hash or index joins instead of a Python loop over a million customers.
    """
    customer = Customer._meta.db_table
    point = ContactPoint._meta.db_table
    phone_kinds = list(ContactPoint.PHONE_KINDS)
    sql = f"""
        WITH candidates AS (
            -- One customer's primary mobile is another's further phone number.
            SELECT LEAST(c.id, p.customer_id) AS first_id,
                   GREATEST(c.id, p.customer_id) AS second_id,
                   %s::text AS reason
            FROM {customer} c
            JOIN {point} p ON p.value = c.mobile AND p.kind = ANY(%s)
            JOIN {customer} pc ON pc.id = p.customer_id
            WHERE c.merged_into_id IS NULL AND pc.merged_into_id IS NULL
              AND p.customer_id <> c.id
            UNION ALL
            -- Two customers share a further phone number.
            SELECT a.customer_id, b.customer_id, %s::text
            FROM {point} a
            JOIN {point} b ON b.kind = ANY(%s) AND b.value = a.value
                AND b.customer_id > a.customer_id
            JOIN {customer} ac ON ac.id = a.customer_id
            JOIN {customer} bc ON bc.id = b.customer_id
            WHERE a.kind = ANY(%s)
              AND ac.merged_into_id IS NULL AND bc.merged_into_id IS NULL
            UNION ALL
            -- The same identity document (compared by its keyed hash).
            SELECT a.id, b.id, %s::text
            FROM {customer} a
            JOIN {customer} b ON b.id_number_hash = a.id_number_hash AND b.id > a.id
            WHERE a.id_number_hash <> '' AND b.id_number_hash <> ''
              AND a.merged_into_id IS NULL AND b.merged_into_id IS NULL
            UNION ALL
            -- The same name and the same last four digits of the mobile.
            SELECT a.id, b.id, %s::text
            FROM {customer} a
            JOIN {customer} b ON RIGHT(b.mobile, 4) = RIGHT(a.mobile, 4)
                AND b.name = a.name AND b.id > a.id
            WHERE a.merged_into_id IS NULL AND b.merged_into_id IS NULL
        )
        SELECT first_id, second_id, array_agg(DISTINCT reason)
        FROM candidates
        GROUP BY first_id, second_id
        ORDER BY first_id, second_id
    """
    params: list[Any] = [
        DuplicatePair.Reason.PHONE.value,
        phone_kinds,
        DuplicatePair.Reason.PHONE.value,
        phone_kinds,
        phone_kinds,
        DuplicatePair.Reason.ID_NUMBER.value,
        DuplicatePair.Reason.NAME_PHONE_TAIL.value,
    ]
    return sql, params


def _ordered_reasons(reasons: Iterable[str]) -> list[str]:
    wanted = set(reasons)
    return [value for value in DuplicatePair.Reason.values if value in wanted]


@transaction.atomic
def _store_pairs(batch: list[tuple[int, int, list[str]]]) -> int:
    """Insert the new pairs of a batch; add newly found reasons to open known pairs."""
    known = {
        (pair.first_id, pair.second_id): pair
        for pair in DuplicatePair.objects.filter(
            first_id__in={row[0] for row in batch},
            second_id__in={row[1] for row in batch},
        )
    }
    new: list[DuplicatePair] = []
    widened: list[DuplicatePair] = []
    now = timezone.now()
    for first_id, second_id, reasons in batch:
        pair = known.get((first_id, second_id))
        if pair is None:
            new.append(
                DuplicatePair(
                    first_id=first_id,
                    second_id=second_id,
                    reasons=_ordered_reasons(reasons),
                    found_at=now,
                )
            )
        elif pair.status == DuplicatePair.Status.OPEN and not set(reasons) <= set(
            pair.reasons
        ):
            pair.reasons = _ordered_reasons([*pair.reasons, *reasons])
            widened.append(pair)
    # A concurrent scan may have inserted some meanwhile: the unique pair settles it.
    DuplicatePair.objects.bulk_create(new, ignore_conflicts=True)
    if widened:
        DuplicatePair.objects.bulk_update(widened, ["reasons"])
    return len(new)


def duplicate_scan() -> int:
    """Find candidate duplicate pairs among live customers; return how many are new.

    Known pairs (open, dismissed or merged) are never added twice, so running the scan
    again adds nothing; an open pair found for a further reason gains that reason.
    """
    sql, params = _scan_sql()
    found = 0
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(SCAN_BATCH):
            found += _store_pairs([(r[0], r[1], list(r[2])) for r in rows])
    return found


@transaction.atomic
def duplicate_dismiss(*, pair: DuplicatePair, actor: User) -> DuplicatePair:
    """Mark a candidate pair as two different people; repeating it changes nothing."""
    locked = DuplicatePair.objects.select_for_update().get(pk=pair.pk)
    if locked.status != DuplicatePair.Status.OPEN:
        return locked
    locked.status = DuplicatePair.Status.DISMISSED
    locked.decided_by = actor
    locked.decided_at = timezone.now()
    locked.save(update_fields=["status", "decided_by", "decided_at"])
    return locked


# Snapshots ------------------------------------------------------------------------


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def customer_snapshot(customer: Customer) -> dict[str, Any]:
    """Every value a restore needs, JSON-ready: fields (FKs as ids) and tag ids."""
    meta = Customer._meta
    data = {
        name: _json_value(getattr(customer, meta.get_field(name).attname))
        for name in SNAPSHOT_FIELDS
    }
    data["tags"] = sorted(customer.tags.values_list("pk", flat=True))
    return data


def _apply_snapshot(customer: Customer, data: dict[str, Any]) -> None:
    meta = Customer._meta
    for name in SNAPSHOT_FIELDS:
        field = meta.get_field(name)
        value = field.to_python(data.get(name))
        # A household or user deleted since the merge cannot be pointed at again.
        if (
            field.is_relation
            and value is not None
            and not field.related_model._default_manager.filter(pk=value).exists()
        ):
            value = None
        setattr(customer, field.attname, value)


def _is_empty(value: Any) -> bool:
    return value is None or value == ""


def merge_defaults(*, survivor: Customer, absorbed: Customer) -> dict[str, Side]:
    """The choice offered first: the survivor's value unless it is empty."""
    meta = Customer._meta
    choices: dict[str, Side] = {}
    for name in MERGE_FIELDS:
        attname = meta.get_field(name).attname
        mine, theirs = getattr(survivor, attname), getattr(absorbed, attname)
        choices[name] = (
            "absorbed" if _is_empty(mine) and not _is_empty(theirs) else "survivor"
        )
    return choices


# Merge ----------------------------------------------------------------------------


def _lock_pair(first_pk: int, second_pk: int) -> dict[int, Customer]:
    # Always in pk order, so two merges over the same customers cannot deadlock.
    rows = (
        Customer.objects.select_for_update()
        .filter(pk__in=[first_pk, second_pk])
        .order_by("pk")
    )
    return {customer.pk: customer for customer in rows}


def _label(customer: Customer) -> str:
    return f"{customer.name} (#{customer.pk})"


def _collect_moved(responses: list[tuple[Any, Any]]) -> dict[str, list[int]]:
    moved: dict[str, list[int]] = {}
    for _receiver, response in responses:
        if not response:
            continue
        for key, ids in dict(response).items():
            moved.setdefault(str(key), []).extend(int(pk) for pk in ids)
    return {key: sorted(set(ids)) for key, ids in moved.items()}


def _keep_number(*, customer: Customer, mobile: str) -> int | None:
    """Keep a number that lost the choice as a further contact; the id if created."""
    if not mobile or mobile == customer.mobile:
        return None
    point, created = ContactPoint.objects.get_or_create(
        customer=customer, kind=ContactPoint.Kind.MOBILE, value=mobile
    )
    return point.pk if created else None


@transaction.atomic
def customer_merge(
    *,
    actor: User | None,
    survivor: Customer,
    absorbed: Customer,
    choices: dict[str, Side],
) -> MergeRecord:
    """Merge `absorbed` into `survivor`; nothing is lost and everything can be undone.

    `choices` names, per field of MERGE_FIELDS, whose value survives; a field not named
    keeps the survivor's value, or takes the absorbed's when the survivor's is empty.
    """
    if survivor.pk == absorbed.pk:
        raise MergeRefused(_("A customer cannot be merged into itself."))
    unknown = {k for k in choices if k not in MERGE_FIELDS} | {
        v for v in choices.values() if v not in SIDES
    }
    if unknown:
        raise ValueError(f"unknown merge choices: {sorted(unknown)}")
    locked = _lock_pair(survivor.pk, absorbed.pk)
    survivor, absorbed = locked[survivor.pk], locked[absorbed.pk]
    if absorbed.merged_into_id is not None or survivor.merged_into_id is not None:
        raise MergeRefused(_("One of these customers has already been merged."))
    if survivor.anonymised_at is not None or absorbed.anonymised_at is not None:
        raise MergeRefused(_("An anonymised customer cannot be merged."))

    survivor_before = customer_snapshot(survivor)
    absorbed_before = customer_snapshot(absorbed)
    audit_before = snapshot(survivor, AUDITED_FIELDS)
    now = timezone.now()

    picked = {**merge_defaults(survivor=survivor, absorbed=absorbed), **choices}
    meta = Customer._meta
    for name in MERGE_FIELDS:
        if picked[name] == "absorbed":
            attname = meta.get_field(name).attname
            setattr(survivor, attname, getattr(absorbed, attname))
    # Timeline-derived dates: the latest contact and the soonest pending follow-up.
    contacts = [d for d in (survivor.last_contact_at, absorbed.last_contact_at) if d]
    survivor.last_contact_at = max(contacts) if contacts else None
    follow_ups = [d for d in (survivor.next_follow_up, absorbed.next_follow_up) if d]
    survivor.next_follow_up = min(follow_ups) if follow_ups else None
    refresh_derived_fields(survivor)

    # The absorbed leaves the live set first: the survivor may now take its mobile.
    absorbed.merged_into = survivor
    absorbed.save(update_fields=["merged_into", "updated_at"])
    survivor.save()

    # The number that lost the choice stays reachable as a further contact.
    added_points = [
        pk
        for pk in (
            _keep_number(customer=survivor, mobile=survivor_before["mobile"]),
            _keep_number(customer=survivor, mobile=absorbed_before["mobile"]),
        )
        if pk is not None
    ]
    before_tags = set(survivor_before["tags"])
    survivor.tags.add(*absorbed_before["tags"])

    record = MergeRecord.objects.create(
        survivor=survivor,
        absorbed=absorbed,
        merged_by=actor,
        merged_at=now,
        survivor_before={**survivor_before, ADDED_POINTS_KEY: added_points},
        absorbed_before=absorbed_before,
    )
    # Each app (this one included, in customers.merge_handlers) moves its own rows.
    responses = customer_merged.send(
        sender=Customer, survivor=survivor, absorbed=absorbed, record=record
    )
    record.moved = _collect_moved(responses)
    record.save(update_fields=["moved", "details"])

    DuplicatePair.objects.filter(
        Q(first=absorbed) | Q(second=absorbed), status=DuplicatePair.Status.OPEN
    ).update(status=DuplicatePair.Status.MERGED, decided_by=actor, decided_at=now)

    changes = diff(survivor, audit_before)
    new_tags = set(absorbed_before["tags"]) - before_tags
    if new_tags:
        changes["tags"] = {
            "old": _tag_names(before_tags),
            "new": _tag_names(before_tags | new_tags),
        }
    audit_record(
        actor=actor,
        instance=survivor,
        action=AuditEntry.Action.UPDATE,
        changes=changes,
    )
    audit_record(
        actor=actor,
        instance=absorbed,
        action=AuditEntry.Action.UPDATE,
        changes={"merged_into": {"old": "", "new": _label(survivor)}},
    )
    moved_count = sum(len(ids) for ids in record.moved.values())
    interaction_log(
        customer=survivor,
        kind=Interaction.Kind.SYSTEM,
        entry=customer_events.MERGED(absorbed=_label(absorbed), count=moved_count),
        actor=actor,
        occurred_at=now,
    )
    webhooks.emit(
        "customer.merged",
        data={"customer_id": survivor.pk, "merged_customer_id": absorbed.pk},
    )
    return record


def _tag_names(pks: set[int]) -> str:
    return ", ".join(
        sorted(Tag.objects.filter(pk__in=pks).values_list("name", flat=True))
    )


# Restore --------------------------------------------------------------------------


def _mobile_taken(mobile: str, *, besides: Iterable[int]) -> Customer | None:
    return (
        Customer.objects.live()
        .filter(mobile=mobile)
        .exclude(pk__in=list(besides))
        .first()
    )


@transaction.atomic
def customer_merge_restore(*, actor: User | None, record: MergeRecord) -> Customer:
    """Undo a merge: both customers get back their values, tags and rows.

    Returns the absorbed customer, live again.
    """
    record = MergeRecord.objects.select_for_update().get(pk=record.pk)
    if record.restored_at is not None:
        raise MergeRefused(_("This merge has already been undone."))
    locked = _lock_pair(record.survivor_id, record.absorbed_id)
    survivor, absorbed = locked[record.survivor_id], locked[record.absorbed_id]
    if survivor.anonymised_at is not None or absorbed.anonymised_at is not None:
        raise MergeRefused(
            _("The customer has been anonymised; this merge can no longer be undone.")
        )
    if survivor.merged_into_id is not None:
        raise MergeRefused(
            _(
                "%(survivor)s has since been merged into another customer; "
                "undo that merge first."
            )
            % {"survivor": _label(survivor)}
        )
    for mobile in (record.absorbed_before["mobile"], record.survivor_before["mobile"]):
        # The survivor gives the number back itself; anyone else blocks the restore.
        holder = _mobile_taken(mobile, besides=[survivor.pk, absorbed.pk])
        if holder is None:
            continue
        if actor is not None and (
            Customer.objects.visible_to(actor).filter(pk=holder.pk).exists()
        ):
            raise MergeRefused(
                _(
                    "The mobile number %(mobile)s now belongs to %(holder)s. "
                    "Change that customer's number before undoing this merge."
                )
                % {"mobile": mobile, "holder": _label(holder)}
            )
        # A customer outside the actor's scope is not named (nor its id).
        raise MergeRefused(
            _(
                "The mobile number %(mobile)s now belongs to a customer you cannot "
                "see. Their consultant must change that number before this merge "
                "can be undone."
            )
            % {"mobile": mobile}
        )

    audit_before = snapshot(survivor, AUDITED_FIELDS)
    survivor_tags_before = set(survivor.tags.values_list("pk", flat=True))
    now = timezone.now()

    customer_merge_restored.send(
        sender=Customer,
        survivor=survivor,
        absorbed=absorbed,
        record=record,
        moved=record.moved,
        actor=actor,
    )
    ContactPoint.objects.filter(
        customer=survivor, pk__in=record.survivor_before.get(ADDED_POINTS_KEY, [])
    ).delete()

    # The survivor first: it may hold the absorbed's mobile, which must be free again.
    _apply_snapshot(survivor, record.survivor_before)
    survivor.save()
    _apply_snapshot(absorbed, record.absorbed_before)
    absorbed.merged_into = None
    absorbed.save()
    for customer, data in (
        (survivor, record.survivor_before),
        (absorbed, record.absorbed_before),
    ):
        customer.tags.set(Tag.objects.filter(pk__in=data["tags"]))

    # The pairs this merge closed are open questions again.
    DuplicatePair.objects.filter(
        Q(first=absorbed) | Q(second=absorbed),
        status=DuplicatePair.Status.MERGED,
        decided_at=record.merged_at,
    ).update(status=DuplicatePair.Status.OPEN, decided_by=None, decided_at=None)

    record.restored_at = now
    record.restored_by = actor
    record.save(update_fields=["restored_at", "restored_by"])

    changes = diff(survivor, audit_before)
    survivor_tags_after = set(record.survivor_before["tags"])
    if survivor_tags_after != survivor_tags_before:
        changes["tags"] = {
            "old": _tag_names(survivor_tags_before),
            "new": _tag_names(survivor_tags_after),
        }
    audit_record(
        actor=actor, instance=survivor, action=AuditEntry.Action.UPDATE, changes=changes
    )
    audit_record(
        actor=actor,
        instance=absorbed,
        action=AuditEntry.Action.UPDATE,
        changes={"merged_into": {"old": _label(survivor), "new": ""}},
    )
    interaction_log(
        customer=survivor,
        kind=Interaction.Kind.SYSTEM,
        entry=customer_events.MERGE_UNDONE(absorbed=_label(absorbed)),
        actor=actor,
        occurred_at=now,
    )
    interaction_log(
        customer=absorbed,
        kind=Interaction.Kind.SYSTEM,
        entry=customer_events.RESTORED(survivor=_label(survivor)),
        actor=actor,
        occurred_at=now,
    )
    return absorbed
