"""Inventory: buildings generated from a template, unit prices and their history."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
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
    # The floor price (a consultant's negotiating limit) moves by the same rule, so a
    # cut does not leave the list price under it; None for a unit without one.
    old_floor_price: Decimal | None = None
    new_floor_price: Decimal | None = None


def _matching(
    qs: QuerySet[Unit],
    *,
    floor_from: int | None = None,
    floor_to: int | None = None,
    layout: str = "",
) -> QuerySet[Unit]:
    qs = qs.filter(status=Unit.Status.AVAILABLE)
    if floor_from is not None:
        qs = qs.filter(floor__gte=floor_from)
    if floor_to is not None:
        qs = qs.filter(floor__lte=floor_to)
    if layout:
        qs = qs.filter(layout=layout)
    return qs


def _plan(units: Iterable[Unit], *, mode: str, value: Decimal) -> list[Repricing]:
    def moved(price: Decimal, unit: Unit) -> Decimal:
        if mode == "percent":
            new = price * (Decimal("100") + value) / Decimal("100")
        else:
            new = price + value * unit.gross_area
        new = new.quantize(Decimal("1"))
        if new <= 0:
            raise ValidationError(
                _("The adjustment would make unit %(unit)s free or negative.")
                % {"unit": unit.number}
            )
        return new

    plan = []
    for unit in units:
        new = moved(unit.list_price, unit)
        if new != unit.list_price:
            floor = unit.floor_price
            plan.append(
                Repricing(
                    unit,
                    unit.list_price,
                    new,
                    floor,
                    moved(floor, unit) if floor is not None else None,
                )
            )
    return plan


def price_plan_preview(
    *,
    building: Building,
    mode: str,
    value: Decimal,
    floor_from: int | None = None,
    floor_to: int | None = None,
    layout: str = "",
) -> list[Repricing]:
    """What a price adjustment would do to the building's units still on sale.

    mode "percent" moves each price by value %; mode "per_m2" by value yuan per m².
    The floor price moves by the same rule.
    """
    qs = _matching(
        Unit.objects.filter(building=building),
        floor_from=floor_from,
        floor_to=floor_to,
        layout=layout,
    )
    return _plan(qs.order_by("-floor", "position"), mode=mode, value=value)


@transaction.atomic
def price_plan_apply(
    *,
    actor: User,
    building: Building,
    reason: str,
    mode: str,
    value: Decimal,
    **criteria,
) -> int:
    """Reprice many units at once after a preview; every change keeps its history."""
    # Locked in id order, as every other locker of several units does (a selection
    # session being set up on the same building waits, it does not deadlock); the
    # plan then reads them top floor first, as the preview shows them.
    locked = list(
        _matching(Unit.objects.filter(building=building), **criteria)
        .select_for_update()
        .order_by("pk")
    )
    locked.sort(key=lambda unit: (-unit.floor, unit.position))
    plan = _plan(locked, mode=mode, value=value)
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
        r.unit.floor_price = r.new_floor_price
    Unit.objects.bulk_update(
        [r.unit for r in plan], ["list_price", "floor_price"], batch_size=500
    )
    audit_record(
        actor=actor,
        instance=building,
        action=AuditEntry.Action.UPDATE,
        changes={"prices": {"old": "", "new": f"{len(plan)} × {reason}"}},
    )
    return len(plan)
