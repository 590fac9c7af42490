"""Sales use cases: generating inventory, opening deals, holding and selling units.

One unit, one buyer: every change of a unit's status locks the unit row first
(SELECT ... FOR UPDATE), and the database refuses a second active hold on a unit.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm_site.audit import audit_record
from crm_site.models import AuditEntry, User
from crm_site.notifications import notify
from customers.models import Customer
from customers.services import interaction_log
from sales.models import Building, Opportunity, PriceChange, Project, Unit, UnitHold


class UnitUnavailable(Exception):
    """Someone else holds or bought the unit."""

    def __init__(self, unit: Unit) -> None:
        super().__init__(f"unit {unit.pk} is {unit.status}")
        self.unit = unit


def floor_numbers(*, floors: int, skipped: list[int]) -> list[int]:
    """The numbers on the lift buttons: floors counted up, skipping unlucky numbers."""
    numbers: list[int] = []
    candidate = 1
    while len(numbers) < floors:
        if candidate not in skipped:
            numbers.append(candidate)
        candidate += 1
    return numbers


@transaction.atomic
def building_generate(
    *,
    actor: User,
    project: Project,
    name: str,
    floors: int,
    units_per_floor: int,
    skipped_floors: list[int],
    layouts: list[str],
    gross_areas: list[Decimal],
    base_price: Decimal,
    floor_increment: Decimal,
) -> Building:
    """A building and all its units from a template: floors × units per floor.

    layouts and gross_areas give each position on a floor (1, 2, ...); the price per m²
    is base_price plus floor_increment for every floor above the first.
    """
    if len(layouts) != units_per_floor or len(gross_areas) != units_per_floor:
        raise ValidationError(
            _("Give one layout and one area for every unit of a floor.")
        )
    building = Building.objects.create(
        project=project,
        name=name,
        floors=floors,
        units_per_floor=units_per_floor,
        skipped_floors=sorted(set(skipped_floors)),
    )
    units = []
    for level, floor in enumerate(floor_numbers(floors=floors, skipped=skipped_floors)):
        per_m2 = base_price + floor_increment * level
        for position in range(1, units_per_floor + 1):
            area = gross_areas[position - 1]
            price = (per_m2 * area).quantize(Decimal("1"))
            units.append(
                Unit(
                    building=building,
                    number=f"{floor}{position:02d}",
                    floor=floor,
                    position=position,
                    layout=layouts[position - 1],
                    gross_area=area,
                    net_area=(area * Decimal("0.78")).quantize(Decimal("0.01")),
                    list_price=price,
                    floor_price=(price * Decimal("0.95")).quantize(Decimal("1")),
                )
            )
    Unit.objects.bulk_create(units, batch_size=1000)
    audit_record(
        actor=actor,
        instance=building,
        action=AuditEntry.Action.CREATE,
        changes={"units": {"old": "", "new": str(len(units))}},
    )
    return building


@transaction.atomic
def unit_price_change(
    *, actor: User, unit: Unit, new_price: Decimal, reason: str
) -> Unit:
    locked = Unit.objects.select_for_update().get(pk=unit.pk)
    if locked.list_price == new_price:
        return locked
    PriceChange.objects.create(
        unit=locked,
        old_price=locked.list_price,
        new_price=new_price,
        reason=reason,
        changed_by=actor,
    )
    locked.list_price = new_price
    locked.save(update_fields=["list_price"])
    return locked


@transaction.atomic
def opportunity_open(
    *, actor: User, customer: Customer, project: Project, consultant: User | None = None
) -> Opportunity:
    """Open a deal for a customer at a project (one open deal per customer and project)."""
    existing = (
        Opportunity.objects.select_for_update()
        .filter(customer=customer, project=project, stage__in=Opportunity.OPEN_STAGES)
        .first()
    )
    if existing is not None:
        return existing
    opportunity = Opportunity.objects.create(
        customer=customer, project=project, consultant=consultant or actor
    )
    interaction_log(
        customer=customer,
        kind="system",
        summary=_("Deal opened at %(project)s") % {"project": project.name},
        actor=actor,
        link=opportunity,
    )
    return opportunity


def _set_unit_status(unit: Unit, status: str) -> None:
    unit.status = status
    unit.status_changed_at = timezone.now()
    unit.save(update_fields=["status", "status_changed_at"])


@transaction.atomic
def unit_reserve(*, actor: User, opportunity: Opportunity, unit: Unit) -> UnitHold:
    """Hold a unit for a deal until the project's deadline (认筹/预留).

    Two consultants at the same moment: the second waits for the first's row lock,
    then finds the unit no longer available and is refused.
    """
    locked = (
        Unit.objects.select_for_update()
        .select_related("building__project")
        .get(pk=unit.pk)
    )
    opportunity = Opportunity.objects.select_for_update().get(pk=opportunity.pk)
    if locked.building.project_id != opportunity.project_id:
        raise ValidationError(_("The unit belongs to another project than the deal."))
    if locked.status != Unit.Status.AVAILABLE:
        raise UnitUnavailable(locked)
    if opportunity.unit_id and opportunity.unit_id != locked.pk:
        raise ValidationError(
            _("This deal already holds another unit; release it first.")
        )
    held_until = timezone.now() + timedelta(days=locked.building.project.hold_days)
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
    opportunity.unit = locked
    opportunity.save(update_fields=["unit"])
    opportunity.move_to(
        Opportunity.Stage.RESERVED,
        actor=actor,
        note=_("Unit %(unit)s held until %(until)s")
        % {
            "unit": locked.number,
            "until": timezone.localtime(held_until).strftime("%Y-%m-%d %H:%M"),
        },
    )
    return hold


def _end_hold(hold: UnitHold, status: str) -> None:
    hold.status = status
    hold.ended_at = timezone.now()
    hold.save(update_fields=["status", "ended_at"])


@transaction.atomic
def unit_release(*, actor: User | None, hold: UnitHold, expired: bool = False) -> bool:
    """End an active hold and put the unit back on sale. Repeating it does nothing."""
    hold = UnitHold.objects.select_for_update().get(pk=hold.pk)
    if hold.status != UnitHold.Status.ACTIVE:
        return False
    unit = Unit.objects.select_for_update().get(pk=hold.unit_id)
    _end_hold(hold, UnitHold.Status.EXPIRED if expired else UnitHold.Status.RELEASED)
    if unit.status == Unit.Status.RESERVED:
        _set_unit_status(unit, Unit.Status.AVAILABLE)
    opportunity = Opportunity.objects.select_for_update().get(pk=hold.opportunity_id)
    opportunity.unit = None
    opportunity.save(update_fields=["unit"])
    if opportunity.stage == Opportunity.Stage.RESERVED:
        note = (
            _("Hold on unit %(unit)s expired")
            if expired
            else _("Unit %(unit)s released")
        )
        opportunity.move_to(
            Opportunity.Stage.VISITED, actor=actor, note=note % {"unit": unit.number}
        )
    if expired:
        notify(
            user=hold.held_by,
            message=_(
                "The hold on unit %(unit)s for %(customer)s has expired; the unit is on sale again."
            )
            % {"unit": str(unit), "customer": opportunity.customer.name},
            target=opportunity,
        )
    return True


def holds_expire(*, now=None, limit: int = 500) -> int:
    """Release every hold past its deadline. Safe to run twice or concurrently: each
    hold is claimed with SKIP LOCKED and re-checked under the lock."""
    now = now or timezone.now()
    released = 0
    while True:
        with transaction.atomic():
            due = list(
                UnitHold.objects.select_for_update(skip_locked=True)
                .filter(status=UnitHold.Status.ACTIVE, held_until__lte=now)
                .order_by("held_until")[:limit]
            )
            for hold in due:
                released += unit_release(actor=None, hold=hold, expired=True)
        if len(due) < limit:
            return released


@transaction.atomic
def unit_subscribe(
    *, actor: User, opportunity: Opportunity, agreed_price: Decimal | None = None
) -> Opportunity:
    """Sign the subscription (认购) for the deal's held unit, or an available one."""
    opportunity = Opportunity.objects.select_for_update().get(pk=opportunity.pk)
    if opportunity.unit_id is None:
        raise ValidationError(_("Choose a unit for the deal first."))
    unit = Unit.objects.select_for_update().get(pk=opportunity.unit_id)
    hold = (
        UnitHold.objects.select_for_update()
        .filter(unit=unit, status=UnitHold.Status.ACTIVE)
        .first()
    )
    if hold is not None and hold.opportunity_id != opportunity.pk:
        raise UnitUnavailable(unit)
    if unit.status not in (Unit.Status.AVAILABLE, Unit.Status.RESERVED) or (
        unit.status == Unit.Status.RESERVED and hold is None
    ):
        raise UnitUnavailable(unit)
    if hold is not None:
        _end_hold(hold, UnitHold.Status.CONVERTED)
    _set_unit_status(unit, Unit.Status.SUBSCRIBED)
    opportunity.agreed_price = agreed_price or unit.list_price
    opportunity.save(update_fields=["agreed_price"])
    opportunity.move_to(Opportunity.Stage.SUBSCRIBED, actor=actor)
    if opportunity.customer.stage == Customer.Stage.PROSPECT:
        from customers.services import customer_update

        customer_update(
            actor=actor, customer=opportunity.customer, stage=Customer.Stage.BUYER
        )
    return opportunity
