"""Inventory: buildings generated from a template, unit prices and their history."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
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
