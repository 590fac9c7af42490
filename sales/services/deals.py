"""Deals: opening them, holding and subscribing units, expiring holds.

One unit, one buyer: every change of a unit's status locks the unit row first
(SELECT ... FOR UPDATE), and the database refuses a second active hold on a unit.

Locks are taken in one order everywhere: the deal, then its unit, then the unit's
hold (and a plan's lines after the deal). Two people acting on one deal at once then
wait for each other instead of deadlocking.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from crm_site import events, webhooks
from crm_site.audit import audit_change, audit_record, diff, snapshot
from crm_site.models import AuditEntry, User
from crm_site.notifications import notify
from customers.models import Customer
from customers.services import interaction_log
from sales import attribution
from sales import events as sales_events
from sales.models import (
    CoBuyer,
    DealChange,
    DiscountRequest,
    Opportunity,
    Project,
    Unit,
    UnitHold,
)
from sales.pricing import quote
from sales.services.commission import commission_accrue
from sales.services.ownership import BUYER_STAGES
from sales.services.sessions import unit_in_selling_session


class UnitUnavailable(Exception):
    """Someone else holds or bought the unit."""

    def __init__(self, unit: Unit) -> None:
        super().__init__(f"unit {unit.pk} is {unit.status}")
        self.unit = unit


@transaction.atomic
def opportunity_open(
    *, actor: User, customer: Customer, project: Project, consultant: User | None = None
) -> Opportunity:
    """Open a deal for a customer at a project (one open deal per customer and project).

    There is no row to lock before the deal exists: two at once (a double click, a
    consultant and a manager) lock the customer row, then look again, so the second
    finds the first's deal. An existing deal is looked for before that lock:
    subscribing locks the deal, then its customer, and this must not wait the other
    way round. FOR NO KEY UPDATE: rows that merely point at the customer (its
    timeline) are not blocked."""
    open_deals = Opportunity.objects.select_for_update().filter(
        customer=customer, project=project, stage__in=Opportunity.OPEN_STAGES
    )
    existing = open_deals.first()
    if existing is None:
        Customer.objects.select_for_update(no_key=True).values_list("pk").get(
            pk=customer.pk
        )
        existing = open_deals.first()
    if existing is not None:
        return existing
    opportunity = Opportunity.objects.create(
        customer=customer,
        project=project,
        consultant=consultant or actor,
        campaign_id=attribution.campaign_for(customer=customer, project=project),
    )
    audit_record(
        actor=actor,
        instance=opportunity,
        action=AuditEntry.Action.CREATE,
        changes=diff(opportunity, dict.fromkeys(Opportunity.AUDITED_FIELDS, "")),
    )
    interaction_log(
        customer=customer,
        kind="system",
        entry=sales_events.DEAL_OPENED(project=project.name),
        actor=actor,
        link=opportunity,
    )
    return opportunity


def _set_unit_status(unit: Unit, status: str) -> None:
    old = unit.status
    unit.status = status
    unit.status_changed_at = timezone.now()
    unit.save(update_fields=["status", "status_changed_at"])
    webhooks.emit(
        "unit.status_changed", data={"unit_id": unit.pk, "from": old, "to": status}
    )


@transaction.atomic
def unit_reserve(*, actor: User, opportunity: Opportunity, unit: Unit) -> UnitHold:
    """Hold a unit for a deal until the project's deadline (认筹/预留).

    Two consultants at the same moment: the second waits for the first's row lock,
    then finds the unit no longer available and is refused.

    A hold past its deadline is over whether or not the five-minute sweep has run:
    under the unit's lock it is expired here as the sweep would expire it, and the
    unit is held for this deal at once. Its deal is locked with this one first (both
    in id order, then the unit, then the hold: the one lock order).
    """
    now = timezone.now()
    lapsed_deal_id = lapsed_hold_deal_id(unit.pk, now)
    deals = {
        deal.pk: deal
        for deal in Opportunity.objects.select_for_update()
        .filter(pk__in={opportunity.pk, lapsed_deal_id} - {None})
        .order_by("pk")
    }
    opportunity = deals[opportunity.pk]
    locked = (
        Unit.objects.select_for_update()
        .select_related("building__project")
        .get(pk=unit.pk)
    )
    if locked.building.project_id != opportunity.project_id:
        raise ValidationError(_("The unit belongs to another project than the deal."))
    _expire_lapsed_hold(locked, deals=deals, now=now, holder=opportunity)
    if locked.status != Unit.Status.AVAILABLE:
        raise UnitUnavailable(locked)
    _refuse_session_unit(locked)
    if opportunity.unit_id and opportunity.unit_id != locked.pk:
        raise ValidationError(
            _("This deal already holds another unit; release it first.")
        )
    held_until = now + timedelta(days=locked.building.project.hold_days)
    try:
        with transaction.atomic():
            hold = UnitHold.objects.create(
                unit=locked,
                opportunity=opportunity,
                held_by=actor,
                held_until=held_until,
            )
    except IntegrityError:
        raise UnitUnavailable(locked) from None
    _set_unit_status(locked, Unit.Status.RESERVED)
    before = snapshot(opportunity, ["unit"])
    opportunity.unit = locked
    opportunity.save(update_fields=["unit"])
    audit_change(actor=actor, instance=opportunity, before=before)
    opportunity.move_to(
        Opportunity.Stage.RESERVED,
        actor=actor,
        because=sales_events.UNIT_HELD(unit=locked.number, until=held_until),
    )
    return hold


def lapsed_holds(now: datetime) -> QuerySet[UnitHold]:
    """Active holds past their deadline at ``now``: over whether or not the
    five-minute sweep (holds_expire) has run yet."""
    return UnitHold.objects.filter(status=UnitHold.Status.ACTIVE, held_until__lte=now)


def lapsed_hold_deal_id(unit_id: int | None, now: datetime) -> int | None:
    """The deal of the unit's hold past its deadline, read without a lock: the
    caller locks it with its own deal (in id order) before the unit."""
    if unit_id is None:
        return None
    return (
        lapsed_holds(now)
        .filter(unit_id=unit_id)
        .values_list("opportunity_id", flat=True)
        .first()
    )


def _expire_lapsed_hold(
    unit: Unit, *, deals: dict[int, Opportunity], now: datetime, holder: Opportunity
) -> None:
    """The (locked) unit's active hold, if past its deadline at ``now``, ends as
    expired, exactly as holds_expire ends it (by the system, the consultant told,
    unless ``holder``, the deal holding the unit now, is the hold's own deal: its
    consultant is the one holding it again, as subscribing told them to).
    Only a hold whose deal the caller locked is ended; another (it appeared between
    the look and the locks) stays and the unit is refused as held."""
    hold = (
        UnitHold.objects.select_for_update()
        .filter(unit=unit, status=UnitHold.Status.ACTIVE)
        .first()
    )
    if hold is None or hold.held_until > now or hold.opportunity_id not in deals:
        return
    _release(
        actor=None,
        opportunity=deals[hold.opportunity_id],
        unit=unit,
        hold=hold,
        expired=True,
        tell=hold.opportunity_id != holder.pk,
    )


def _refuse_session_unit(unit: Unit) -> None:
    """A unit offered in an ordered or open selection session is sold only there
    (the unit row is locked by the caller, as session_create locks it)."""
    session = unit_in_selling_session(unit.pk)
    if session is not None:
        raise ValidationError(
            _(
                "Unit %(unit)s is offered in the selection session %(session)s; "
                "it can be chosen only there until the session closes."
            )
            % {"unit": unit.number, "session": session.name}
        )


def _subscribe_checks(
    opportunity: Opportunity, unit: Unit, because: events.Entry | None
) -> None:
    """May the deal sign for the (locked) unit? Ends the deal's own hold on it."""
    hold = (
        UnitHold.objects.select_for_update()
        .filter(unit=unit, status=UnitHold.Status.ACTIVE)
        .first()
    )
    if hold is not None and hold.opportunity_id != opportunity.pk:
        raise UnitUnavailable(unit)
    if hold is not None and hold.held_until <= timezone.now():
        # The hold is over at its deadline, swept or not: the unit may be someone
        # else's by now, so the buyer holds it again (if still on sale) first.
        raise ValidationError(
            _(
                "The hold on unit %(unit)s ended at %(until)s. Hold the unit again "
                "if it is still available, then record the subscription."
            )
            % {
                "unit": unit.number,
                "until": timezone.localtime(hold.held_until).strftime("%Y-%m-%d %H:%M"),
            }
        )
    if unit.status not in (Unit.Status.AVAILABLE, Unit.Status.RESERVED) or (
        unit.status == Unit.Status.RESERVED and hold is None
    ):
        raise UnitUnavailable(unit)
    # selection_make signs through here with because=UNIT_SELECTED: that is the one
    # way a session's unit is sold while the session runs.
    if because is None or because.code != sales_events.UNIT_SELECTED.code:
        _refuse_session_unit(unit)
    if opportunity.discount_requests.filter(
        status=DiscountRequest.Status.PENDING
    ).exists():
        raise ValidationError(_("A discount for this deal is waiting for approval."))
    if hold is not None:
        _end_hold(hold, UnitHold.Status.CONVERTED)


def _end_hold(hold: UnitHold, status: str) -> None:
    hold.status = status
    hold.ended_at = timezone.now()
    hold.save(update_fields=["status", "ended_at"])


@transaction.atomic
def unit_release(*, actor: User | None, hold: UnitHold, expired: bool = False) -> bool:
    """End an active hold and put the unit back on sale. Repeating it does nothing.

    Locks the deal, the unit, then the hold, as subscribing does (a hold never
    changes its deal or unit, and an ended hold never becomes active again)."""
    if hold.status != UnitHold.Status.ACTIVE:
        return False
    opportunity = Opportunity.objects.select_for_update().get(pk=hold.opportunity_id)
    unit = (
        Unit.objects.select_for_update(of=("self",))
        .select_related("building__project")
        .get(pk=hold.unit_id)
    )
    hold = UnitHold.objects.select_for_update().get(pk=hold.pk)
    if hold.status != UnitHold.Status.ACTIVE:
        return False
    _release(
        actor=actor, opportunity=opportunity, unit=unit, hold=hold, expired=expired
    )
    return True


def _release(
    *,
    actor: User | None,
    opportunity: Opportunity,
    unit: Unit,
    hold: UnitHold,
    expired: bool,
    tell: bool = True,
) -> None:
    """End the active hold; the caller locked the deal, the unit and the hold.
    An expired hold's consultant is told (``tell``)."""
    _end_hold(hold, UnitHold.Status.EXPIRED if expired else UnitHold.Status.RELEASED)
    if unit.status == Unit.Status.RESERVED:
        _set_unit_status(unit, Unit.Status.AVAILABLE)
    if opportunity.unit_id == unit.pk:
        opportunity.unit = unit  # read with its building: the audit names it
    # A discount is granted for the unit it was asked on (its floor price, the
    # manager's decision): it ends with the hold, and a waiting request with it.
    before = snapshot(opportunity, ["unit", "discount_percent"])
    opportunity.unit = None
    opportunity.discount_percent = Decimal("0")
    opportunity.save(update_fields=["unit", "discount_percent"])
    audit_change(actor=actor, instance=opportunity, before=before)
    opportunity.discount_requests.filter(status=DiscountRequest.Status.PENDING).update(
        status=DiscountRequest.Status.WITHDRAWN, decided_at=timezone.now()
    )
    if opportunity.stage == Opportunity.Stage.RESERVED:
        because = sales_events.HOLD_EXPIRED if expired else sales_events.UNIT_RELEASED
        opportunity.move_to(
            Opportunity.Stage.VISITED, actor=actor, because=because(unit=unit.number)
        )
    # Whoever works the deal now: the one who held the unit may have been moved off
    # it (a reassignment) and no longer sees it.
    consultant = opportunity.consultant
    if expired and tell and consultant is not None and consultant.is_active:
        notify(
            user=consultant,
            entry=sales_events.HOLD_EXPIRED_NOTICE(
                unit=str(unit), customer=opportunity.customer.name
            ),
            target=opportunity,
            about=[opportunity.customer],
        )


def holds_expire(*, now=None, limit: int = 500) -> int:
    """Release every hold past its deadline. Safe to run twice or concurrently: each
    hold is re-checked under unit_release's locks, deal first as subscribing takes
    them (claiming the hold first would deadlock with a subscription). One
    transaction per hold: a batch holding many deals' locks at once could wait in a
    circle with a consultant working on one of them."""
    now = now or timezone.now()
    released = 0
    while True:
        due = list(
            UnitHold.objects.filter(
                status=UnitHold.Status.ACTIVE, held_until__lte=now
            ).order_by("held_until", "pk")[:limit]
        )
        for hold in due:
            released += unit_release(actor=None, hold=hold, expired=True)
        if len(due) < limit:
            return released


@transaction.atomic
def unit_subscribe(
    *,
    actor: User,
    opportunity: Opportunity,
    because: events.Entry | None = None,
    claimed: bool = False,
) -> Opportunity:
    """Sign the subscription (认购) for the deal's held unit, or an available one;
    ``because`` says why when the system signs it (a selection on opening day).

    ``claimed``: an opening-day selection already claimed the unit for this buyer
    (sales.services.opening.selection_claim checked the rules, a pending discount
    included, and marked the unit subscribed under its row lock); what is left is
    the paperwork."""
    opportunity = Opportunity.objects.select_for_update().get(pk=opportunity.pk)
    if opportunity.unit_id is None:
        raise ValidationError(_("Choose a unit for the deal first."))
    unit = Unit.objects.select_for_update().get(pk=opportunity.unit_id)
    if claimed:
        if unit.status != Unit.Status.SUBSCRIBED:
            raise UnitUnavailable(unit)
    else:
        _subscribe_checks(opportunity, unit, because)
        _set_unit_status(unit, Unit.Status.SUBSCRIBED)
    before = snapshot(opportunity, ["agreed_price"])
    opportunity.agreed_price = quote(
        unit=unit, discount_percent=opportunity.discount_percent
    ).price
    opportunity.save(update_fields=["agreed_price"])
    audit_change(actor=actor, instance=opportunity, before=before)
    opportunity.move_to(Opportunity.Stage.SUBSCRIBED, actor=actor, because=because)
    customer_stage_follow_deals(actor=actor, customer=opportunity.customer, live=True)
    return opportunity


def customer_stage_follow_deals(
    *, actor: User | None, customer: Customer, live: bool | None = None
) -> None:
    """Set the customer's lifecycle stage to what they still have, after a deal of
    theirs was subscribed, cancelled or given to another buyer: an owner stays an
    owner (handed a home); the buyer or a co-buyer of a live deal (subscribed,
    contracted or paid) is a buyer; anyone else is a prospect again. Audited through
    customers.services.customer_update, in the caller's transaction.

    The customer row is locked (after the deal and its unit, in the one lock order)
    before the deals are read: a subscription of another of their deals at the same
    moment takes the same lock, so one of the two sees the other's deal. ``live``:
    the caller knows the customer has a live deal (it just subscribed one)."""
    from customers.services import customer_update

    stage = (
        Customer.objects.select_for_update(no_key=True)
        .values_list("stage", flat=True)
        .get(pk=customer.pk)
    )
    if stage == Customer.Stage.OWNER:
        return
    live = live or (
        Opportunity.objects.filter(customer=customer, stage__in=BUYER_STAGES).exists()
        or CoBuyer.objects.filter(
            customer=customer, opportunity__stage__in=BUYER_STAGES
        ).exists()
    )
    wanted = Customer.Stage.BUYER if live else Customer.Stage.PROSPECT
    if stage != wanted:
        customer_update(actor=actor, customer=customer, stage=wanted)


@transaction.atomic
def opportunity_contract(*, actor: User, opportunity: Opportunity) -> Opportunity:
    """Record the signed purchase contract (签约) of a subscribed deal."""
    opportunity = Opportunity.objects.select_for_update().get(pk=opportunity.pk)
    if opportunity.stage != Opportunity.Stage.SUBSCRIBED or opportunity.unit_id is None:
        raise ValidationError(_("Only a subscribed deal can be contracted."))
    # A change asked at subscription (退房, 换房, 更名) is decided first: approved after
    # the signature, it would undo a contract under the subscription's terms.
    waiting = opportunity.changes.filter(status=DealChange.Status.PENDING).first()
    if waiting is not None:
        raise ValidationError(
            _(
                "A change of this deal (%(kind)s) is waiting for approval: it is "
                "decided before the contract is signed."
            )
            % {"kind": waiting.get_kind_display()}
        )
    unit = Unit.objects.select_for_update().get(pk=opportunity.unit_id)
    _set_unit_status(unit, Unit.Status.CONTRACTED)
    opportunity.move_to(Opportunity.Stage.CONTRACTED, actor=actor)
    totals = opportunity.payment_items.aggregate(due=Sum("amount"), got=Sum("received"))
    if totals["due"] and totals["got"] >= totals["due"]:
        opportunity.move_to(Opportunity.Stage.PAID, actor=actor)
    commission_accrue(deal=opportunity, actor=actor)
    return opportunity
