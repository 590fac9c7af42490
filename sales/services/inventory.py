"""Inventory: buildings generated from a template, unit prices and their history."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm_site.audit import audit_record
from crm_site.models import AuditEntry, User
from sales.models import Building, PriceChange, Project, Unit


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


@dataclass(frozen=True)
class Repricing:
    unit: Unit
    old_price: Decimal
    new_price: Decimal


def price_plan_preview(
    *,
    building: Building,
    mode: str,
    value: Decimal,
    floor_from: int | None = None,
    floor_to: int | None = None,
    layout: str = "",
    units=None,
) -> list[Repricing]:
    """What a price adjustment would do to the building's units still on sale.

    mode "percent" moves each price by value %; mode "per_m2" by value yuan per m².
    """
    qs = units if units is not None else Unit.objects.filter(building=building)
    qs = qs.filter(status=Unit.Status.AVAILABLE)
    if floor_from is not None:
        qs = qs.filter(floor__gte=floor_from)
    if floor_to is not None:
        qs = qs.filter(floor__lte=floor_to)
    if layout:
        qs = qs.filter(layout=layout)
    plan = []
    for unit in qs.order_by("-floor", "position"):
        if mode == "percent":
            new = unit.list_price * (Decimal("100") + value) / Decimal("100")
        else:
            new = unit.list_price + value * unit.gross_area
        new = new.quantize(Decimal("1"))
        if new <= 0:
            raise ValidationError(
                _("The adjustment would make unit %(unit)s free or negative.")
                % {"unit": unit.number}
            )
        if new != unit.list_price:
            plan.append(Repricing(unit, unit.list_price, new))
    return plan


@transaction.atomic
def price_plan_apply(
    *, actor: User, building: Building, reason: str, **criteria
) -> int:
    """Reprice many units at once after a preview; every change keeps its history."""
    locked = Unit.objects.select_for_update().filter(building=building)
    plan = price_plan_preview(building=building, units=locked, **criteria)
    now = timezone.now()
    PriceChange.objects.bulk_create(
        PriceChange(
            unit=r.unit,
            old_price=r.old_price,
            new_price=r.new_price,
            reason=reason,
            changed_by=actor,
            changed_at=now,
        )
        for r in plan
    )
    for r in plan:
        r.unit.list_price = r.new_price
    Unit.objects.bulk_update([r.unit for r in plan], ["list_price"], batch_size=500)
    audit_record(
        actor=actor,
        instance=building,
        action=AuditEntry.Action.UPDATE,
        changes={"prices": {"old": "", "new": f"{len(plan)} × {reason}"}},
    )
    return len(plan)
