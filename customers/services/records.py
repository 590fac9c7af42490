"""Creating and changing customer records, their contact points and consents."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from crm_site import webhooks
from crm_site.audit import audit_record, audited_update, diff, snapshot
from crm_site.models import AuditEntry, User
from customers.identity import id_number_hash, normalize_id_number
from customers.models import ConsentRecord, ContactPoint, Customer, Household
from customers.search import pinyin_keys

# Fields whose changes the audit trail records.
AUDITED_FIELDS = Customer.AUDITED_FIELDS

CONSENT_FIELDS = {
    ConsentRecord.Purpose.SMS: "consent_sms",
    ConsentRecord.Purpose.EMAIL: "consent_email",
    ConsentRecord.Purpose.PHONE: "consent_phone",
    ConsentRecord.Purpose.SERVICE: "consent_service",
}


# What may still change on an anonymised customer: the sales and service flows of the
# contracts it keeps (a buyer becomes an owner at handover, a manager reassigns).
ANONYMISED_EDITABLE = {"stage", "assigned_consultant"}


class CustomerAnonymised(Exception):
    """A change to the personal information of an anonymised customer."""


class CustomerMerged(Exception):
    """A change to a record that a merge absorbed meanwhile: it is no one's to
    change any more (its survivor is)."""

    def __init__(self, customer: Customer) -> None:
        super().__init__(f"customer {customer.pk} was merged into another")
        self.survivor_id = customer.merged_into_id


class DuplicateCustomer(Exception):
    """The mobile number already belongs to another customer."""

    def __init__(self, existing: Customer) -> None:
        super().__init__(f"mobile already belongs to customer {existing.pk}")
        self.existing = existing


def existing_with_mobile(
    mobile: str, *, exclude_pk: int | None = None
) -> Customer | None:
    """The live customer whose primary mobile this is, if any."""
    qs = Customer.objects.live().filter(mobile=mobile)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs.select_related("assigned_consultant").first()


def refresh_derived_fields(customer: Customer) -> None:
    """Search keys and the identity hash follow the fields they come from."""
    customer.name_pinyin, customer.name_initials = pinyin_keys(customer.name)
    customer.id_number = normalize_id_number(customer.id_number)
    customer.id_number_hash = id_number_hash(customer.id_number)


def _save_unique(customer: Customer) -> None:
    # The form checks for a twin first; the unique index settles a race between two desks.
    try:
        with transaction.atomic():
            customer.save()
    except IntegrityError:
        existing = existing_with_mobile(customer.mobile, exclude_pk=customer.pk)
        if existing is None:
            raise
        raise DuplicateCustomer(existing) from None


@transaction.atomic
def customer_create(
    *, actor: User | None, tags: list | None = None, **fields: Any
) -> Customer:
    """Register a new customer; a consultant who registers one owns it."""
    customer = Customer(created_by=actor, **fields)
    if (
        actor is not None
        and customer.assigned_consultant_id is None
        and actor.has_perm("customers.scope_own")
    ):
        customer.assigned_consultant = actor
    existing = existing_with_mobile(customer.mobile)
    if existing is not None:
        raise DuplicateCustomer(existing)
    refresh_derived_fields(customer)
    _save_unique(customer)
    if tags:
        customer.tags.set(tags)
    audit_record(
        actor=actor,
        instance=customer,
        action=AuditEntry.Action.CREATE,
        changes=diff(customer, dict.fromkeys(AUDITED_FIELDS, "")),
    )
    webhooks.emit("customer.created", data={"customer_id": customer.pk})
    return customer


@transaction.atomic
def customer_update(
    *, actor: User | None, customer: Customer, tags: list | None = None, **fields: Any
) -> Customer:
    """Change a customer's fields and record what changed; a no-op change records nothing."""
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    if locked.merged_into_id is not None:
        # The caller read the record before a merge committed: what it writes
        # would be lost on a record nobody sees (and undone by an undo).
        raise CustomerMerged(locked)
    if locked.anonymised_at is not None and (
        tags is not None or set(fields) - ANONYMISED_EDITABLE
    ):
        raise CustomerAnonymised(
            f"customer {locked.pk} is anonymised: {sorted(fields)} cannot change"
        )
    before = snapshot(locked, AUDITED_FIELDS)
    before_tags = sorted(locked.tags.values_list("name", flat=True))
    for name, value in fields.items():
        setattr(locked, name, value)
    refresh_derived_fields(locked)
    changes = diff(locked, before)
    if tags is not None:
        after_tags = sorted(str(tag) for tag in tags)
        if after_tags != before_tags:
            changes["tags"] = {
                "old": ", ".join(before_tags),
                "new": ", ".join(after_tags),
            }
    if not changes:
        return locked
    if "mobile" in changes:
        existing = existing_with_mobile(locked.mobile, exclude_pk=locked.pk)
        if existing is not None:
            raise DuplicateCustomer(existing)
    _save_unique(locked)
    if tags is not None:
        locked.tags.set(tags)
    audit_record(
        actor=actor, instance=locked, action=AuditEntry.Action.UPDATE, changes=changes
    )
    webhooks.emit("customer.updated", data={"customer_id": locked.pk})
    return locked


@transaction.atomic
def contact_point_add(
    *, actor: User, customer: Customer, kind: str, value: str, label: str = ""
) -> ContactPoint:
    # Locked as customer_update does: a merge holds this row until it commits, and
    # a contact added to the record it absorbed would stay on a record nobody sees.
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    if locked.merged_into_id is not None:
        raise CustomerMerged(locked)
    if locked.anonymised_at is not None:
        # A number added after a personal information request would undo it.
        raise CustomerAnonymised(f"customer {locked.pk} is anonymised")
    point, created = ContactPoint.objects.get_or_create(
        customer=locked, kind=kind, value=value, defaults={"label": label}
    )
    if created:
        # The kind as its code: the history names it in the reader's language.
        audit_record(
            actor=actor,
            instance=locked,
            action=AuditEntry.Action.UPDATE,
            changes={"contact_points": {"old": "", "new": value, "kind": point.kind}},
        )
    return point


@transaction.atomic
def contact_point_remove(*, actor: User, point: ContactPoint) -> None:
    """Remove a further contact; one already gone (removed twice) is left alone."""
    # Locked as contact_point_add does: a merge holding this row moves the contact to
    # the survivor, which would lose it with no trace on its own history (and undo
    # could not give it back).
    locked = Customer.objects.select_for_update().get(pk=point.customer_id)
    if locked.merged_into_id is not None:
        raise CustomerMerged(locked)
    if locked.anonymised_at is not None:
        # The removal's entry would write the erased value back into the history.
        raise CustomerAnonymised(f"customer {locked.pk} is anonymised")
    current = ContactPoint.objects.filter(pk=point.pk, customer_id=locked.pk).first()
    if current is None:
        return
    change = {"old": current.value, "new": "", "kind": current.kind}
    current.delete()
    audit_record(
        actor=actor,
        instance=locked,
        action=AuditEntry.Action.UPDATE,
        changes={"contact_points": change},
    )


@transaction.atomic
def consent_set(
    *,
    actor: User | None,
    customer: Customer,
    purpose: str,
    granted: bool,
    method: str,
    note: str = "",
) -> ConsentRecord:
    """Record consent given or withdrawn; the customer's current flag follows at once."""
    record = ConsentRecord.objects.create(
        customer=customer,
        purpose=purpose,
        granted=granted,
        method=method,
        note=note,
        recorded_by=actor,
        recorded_at=timezone.now(),
    )
    field = CONSENT_FIELDS[ConsentRecord.Purpose(purpose)]
    update_fields = {field: granted}
    customer_update(actor=actor, customer=customer, **update_fields)
    setattr(customer, field, granted)
    return record


class HouseholdRefused(Exception):
    """Linking would change customers the actor may not edit; the message names them
    (those the actor may see) and is shown to the user."""


def _household_refusal(*, actor: User, blocked: list[Customer]) -> HouseholdRefused:
    visible = set(
        Customer.objects.visible_to(actor)
        .filter(pk__in=[c.pk for c in blocked])
        .values_list("pk", flat=True)
    )
    names = sorted(c.name for c in blocked if c.pk in visible)
    hidden = len(blocked) - len(names)
    if hidden:
        # Not named: the actor may not even know they exist.
        names.append(
            ngettext(
                "%(count)s customer you cannot see",
                "%(count)s customers you cannot see",
                hidden,
            )
            % {"count": hidden}
        )
    return HouseholdRefused(
        _(
            "Linking would change customers you may not change: %(names)s. Ask "
            "their consultant or a sales manager to link the households."
        )
        % {"names": ", ".join(names)}
    )


@transaction.atomic
def household_link(
    *, actor: User, customer: Customer, other: Customer, role: str
) -> None:
    """Put two customers who buy together in one household (joining existing ones).

    Every customer whose row changes (the two, and the live members of a household
    that joins the other) must be one the actor may edit; otherwise
    HouseholdRefused, and nothing changes. A record absorbed by a merge keeps the
    household it had (undoing the merge gives it back its own values): it is not
    moved, so not checked."""
    # Re-read both: the callers' objects may predate an earlier link. Locked in pk
    # order, so linking A to B and B to A at once cannot deadlock.
    locked = {
        row.pk: row
        for row in Customer.objects.select_for_update(of=("self",))
        .select_related("household")
        .filter(pk__in=[customer.pk, other.pk])
        .order_by("pk")
    }
    customer, other = locked[customer.pk], locked[other.pk]
    household = customer.household or other.household
    moves = [
        (customer, customer.household_role or Customer.HouseholdRole.PRINCIPAL),
        (other, role),
    ]
    # The other side already had a household: its members come along.
    joining = {
        member.household_id
        for member, _role in moves
        if member.household_id is not None
        and household is not None
        and member.household_id != household.pk
    }
    changing = {
        member.pk: member
        for member, member_role in moves
        if household is None
        or member.household_id != household.pk
        or member.household_role != member_role
    }
    if joining:
        changing.update(
            (member.pk, member)
            for member in Customer.objects.live()
            .select_for_update(of=("self",))
            .filter(household_id__in=joining)
            .order_by("pk")
        )
    editable = set(
        Customer.objects.editable_by(actor)
        .filter(pk__in=list(changing))
        .values_list("pk", flat=True)
    )
    blocked = [member for pk, member in changing.items() if pk not in editable]
    if blocked:
        raise _household_refusal(actor=actor, blocked=blocked)
    if household is None:
        household = Household.objects.create(name=customer.name)
    if joining:
        audited_update(
            Customer.objects.live().filter(household_id__in=joining),
            actor=actor,
            household=household,
        )
    for member, member_role in moves:
        customer_update(
            actor=actor,
            customer=member,
            household=household,
            household_role=member_role,
        )


def customer_find_by_phone(mobile: str) -> Customer | None:
    """The live customer who has this E.164 number as primary mobile or further contact."""
    customer = existing_with_mobile(mobile)
    if customer is not None:
        return customer
    return (
        Customer.objects.live()
        .filter(
            contact_points__kind__in=ContactPoint.PHONE_KINDS,
            contact_points__value=mobile,
        )
        .select_related("assigned_consultant")
        .first()
    )


class RevealLimitReached(Exception):
    """The user has been shown as many numbers as allowed in the last hour."""


def contact_reveals_since(*, actor: User, since: datetime) -> int:
    """How many masked numbers the user was shown since then (the audit trail)."""
    return AuditEntry.objects.filter(
        actor=actor, action=AuditEntry.Action.REVEAL, created_at__gte=since
    ).count()


@transaction.atomic
def contact_reveal(
    *, actor: User, customer: Customer, per_hour: int | None = None
) -> None:
    """Record that a user was shown a customer's masked number.

    With `per_hour`, the limit is counted in the audit trail (the last 60 minutes),
    the user's row locked so that two tabs cannot both take the last reveal; used
    while the cache that normally counts reveals is unavailable.
    """
    if per_hour is not None:
        list(User.objects.select_for_update().filter(pk=actor.pk).values_list("pk"))
        since = timezone.now() - timedelta(hours=1)
        if contact_reveals_since(actor=actor, since=since) >= per_hour:
            raise RevealLimitReached
    audit_record(
        actor=actor,
        instance=customer,
        action=AuditEntry.Action.REVEAL,
        changes={"mobile": {"old": "", "new": "***"}},
    )
