"""Importing units from an XLSX (or CSV) file: a dry run with per-row errors, then
an all-or-nothing import.

The dry run reads the whole file, which for a full file takes longer than a request
may hold a web worker; so the upload is stored and checked at once only for what
costs nothing (the zip's directory, the encoding), a worker runs the dry run, and
the page polls for its verdicts. The state lives in the cache under a token for
half an hour: a lost dry run costs the user one more upload, nothing else."""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DataError, connection, transaction
from django.utils.translation import gettext as _

from crm_site import spreadsheets
from crm_site.audit import audit_record
from crm_site.models import AuditEntry, User
from sales.models import Building, Project, Unit

MAX_ROWS = 5000
COLUMNS = {
    "楼栋": "building",
    "building": "building",
    "房号": "number",
    "unit": "number",
    "number": "number",
    "楼层": "floor",
    "floor": "floor",
    "位置": "position",
    "position": "position",
    "户型": "layout",
    "layout": "layout",
    "建筑面积": "gross_area",
    "gross area": "gross_area",
    "gross_area": "gross_area",
    "套内面积": "net_area",
    "net area": "net_area",
    "net_area": "net_area",
    "朝向": "orientation",
    "orientation": "orientation",
    "表价": "list_price",
    "list price": "list_price",
    "list_price": "list_price",
    "底价": "floor_price",
    "floor price": "floor_price",
    "floor_price": "floor_price",
}
REQUIRED = ("building", "number", "floor", "position", "gross_area", "list_price")
ORIENTATIONS = {
    "南": "S",
    "北": "N",
    "东": "E",
    "西": "W",
    "东南": "SE",
    "西南": "SW",
    "南北": "NS",
}


@dataclass
class UnitRow:
    line: int
    values: dict
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


# A building file is small; these limits keep its dry run on the request path short.
LIMITS = spreadsheets.Limits(max_rows=MAX_ROWS + 1, max_columns=50, max_cell_chars=1000)


def _read(upload) -> list[list[str]]:
    """The file's non-empty rows, read through the shared reader and its limits."""
    extension = spreadsheets.extension_of(getattr(upload, "name", "") or "")
    if extension not in spreadsheets.EXTENSIONS:
        raise ValidationError(_("Upload an .xlsx or .csv file."))
    upload.seek(0)
    try:
        with spreadsheets.read_rows(
            io.BytesIO(upload.read()), extension=extension, limits=LIMITS
        ) as rows:
            return [cells for _line, cells in rows]
    except spreadsheets.SpreadsheetRefused as exc:
        raise ValidationError(str(exc)) from exc


def _decimal(
    text: str, label: str, row: UnitRow, *, required: bool, column: str
) -> Decimal | None:
    """The cell as the unit's ``column`` can store it (its digits and decimal
    places), or None with the row's error."""
    if not text:
        if required:
            row.errors.append(_("%(column)s is missing.") % {"column": label})
        return None
    try:
        value = Decimal(text.replace(",", ""))
    except InvalidOperation:
        value = None
    # Infinity and NaN parse as decimals but are no amount (and NaN cannot be
    # compared): the same "not a number" as any other text.
    if value is None or not value.is_finite():
        row.errors.append(
            _("%(column)s is not a number: %(value)s")
            % {"column": label, "value": text}
        )
        return None
    if value <= 0:
        row.errors.append(_("%(column)s must be positive.") % {"column": label})
        return value
    field = Unit._meta.get_field(column)
    _sign, digits, exponent = value.normalize().as_tuple()
    if -exponent > field.decimal_places:
        row.errors.append(
            _("%(column)s has more than %(places)s decimal places.")
            % {"column": label, "places": field.decimal_places}
        )
    whole = field.max_digits - field.decimal_places
    if len(digits) + exponent > whole:
        largest = Decimal(10) ** whole - Decimal(1).scaleb(-field.decimal_places)
        row.errors.append(
            _("%(column)s is too large (at most %(max)s).")
            % {"column": label, "max": largest}
        )
    return value


def _too_long(text: str, label: str, row: UnitRow, *, field) -> None:
    if len(text) > field.max_length:
        row.errors.append(
            _("%(column)s is too long (at most %(max)s characters).")
            % {"column": label, "max": field.max_length}
        )


def _out_of_range(
    value: int | None, label: str, row: UnitRow, *, column: str, low: int | None = None
) -> None:
    """A whole number the unit's integer ``column`` cannot hold."""
    field = Unit._meta.get_field(column)
    lowest, highest = connection.ops.integer_field_range(field.get_internal_type())
    lowest = lowest if low is None else max(low, lowest)
    if value is not None and not lowest <= value <= highest:
        row.errors.append(
            _("%(column)s must be between %(min)s and %(max)s.")
            % {"column": label, "min": lowest, "max": highest}
        )


def units_parse(*, project: Project, upload) -> list[UnitRow]:
    """Check every row; nothing is written."""
    table = [row for row in _read(upload) if any(row)]
    if not table:
        raise ValidationError(_("The file is empty."))
    header = [
        COLUMNS.get(cell.strip().lower(), COLUMNS.get(cell.strip()))
        for cell in table[0]
    ]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ValidationError(
            _(
                "Missing columns: %(columns)s. Expected headers such as 楼栋, 房号, 楼层, 位置, 户型, 建筑面积, 表价."
            )
            % {"columns": ", ".join(missing)}
        )
    if len(table) == 1:
        raise ValidationError(_("The file has a header but no unit."))
    if len(table) > MAX_ROWS + 1:
        raise ValidationError(
            _("At most %(count)s units per file.") % {"count": MAX_ROWS}
        )
    existing = set(
        Unit.objects.filter(building__project=project).values_list(
            "building__name", "number"
        )
    )
    seen: set[tuple[str, str]] = set()
    seen_positions: set[tuple[str, int, int]] = set(
        Unit.objects.filter(building__project=project).values_list(
            "building__name", "floor", "position"
        )
    )
    rows = []
    for line, cells in enumerate(table[1:], start=2):
        raw = {
            key: (cells[i] if i < len(cells) else "")
            for i, key in enumerate(header)
            if key
        }
        row = UnitRow(line=line, values={})
        building, number = raw.get("building", ""), raw.get("number", "")
        if not building or not number:
            row.errors.append(_("Building and unit number are required."))
        _too_long(building, _("Building"), row, field=Building._meta.get_field("name"))
        _too_long(number, _("Unit number"), row, field=Unit._meta.get_field("number"))
        try:
            floor = int(raw.get("floor", ""))
            position = int(raw.get("position", ""))
            if position < 1:
                raise ValueError
        except ValueError:
            row.errors.append(
                _("Floor and position are whole numbers (position from 1).")
            )
            floor = position = None
        _out_of_range(floor, _("Floor"), row, column="floor")
        _out_of_range(position, _("Position"), row, column="position", low=1)
        gross = _decimal(
            raw.get("gross_area", ""),
            _("Gross area"),
            row,
            required=True,
            column="gross_area",
        )
        net = _decimal(
            raw.get("net_area", ""),
            _("Net area"),
            row,
            required=False,
            column="net_area",
        )
        price = _decimal(
            raw.get("list_price", ""),
            _("List price"),
            row,
            required=True,
            column="list_price",
        )
        floor_price = _decimal(
            raw.get("floor_price", ""),
            _("Floor price"),
            row,
            required=False,
            column="floor_price",
        )
        if gross and net and net > gross:
            row.errors.append(_("The net area is larger than the gross area."))
        if price and floor_price and floor_price > price:
            row.errors.append(_("The floor price is above the list price."))
        orientation = raw.get("orientation", "")
        orientation = ORIENTATIONS.get(orientation, orientation.upper())
        if orientation and orientation not in Unit.Orientation.values:
            row.errors.append(
                _("Unknown orientation: %(value)s") % {"value": raw.get("orientation")}
            )
        key = (building, number)
        if key in existing:
            row.errors.append(
                _("Unit %(unit)s already exists in building %(building)s.")
                % {"unit": number, "building": building}
            )
        elif key in seen:
            row.errors.append(
                _("Unit %(unit)s appears twice in the file.") % {"unit": number}
            )
        seen.add(key)
        if floor is not None and position is not None:
            spot = (building, floor, position)
            if spot in seen_positions:
                row.errors.append(
                    _("Two units share floor %(floor)s position %(position)s.")
                    % {"floor": floor, "position": position}
                )
            seen_positions.add(spot)
        row.values = {
            "building": building,
            "number": number,
            "floor": floor,
            "position": position,
            "layout": raw.get("layout", "")[:50],
            "gross_area": gross,
            "net_area": net,
            "orientation": orientation,
            "list_price": price,
            "floor_price": floor_price,
        }
        rows.append(row)
    return rows


@transaction.atomic
def units_import(*, actor: User, project: Project, rows: list[UnitRow]) -> int:
    """Create every unit or none: any row with an error refuses the whole file."""
    if not rows or any(not row.ok for row in rows):
        raise ValidationError(
            _("Fix the rows with errors first; nothing was imported.")
        )
    try:
        units = _create(project, rows)
    except DataError as exc:
        # The dry run checks each column against the database's limits; a value
        # it let through anyway (rows checked before a limit changed) refuses the
        # file as a row error would, not as a server error. Leaving this atomic
        # block rolls back whatever was written.
        raise ValidationError(
            _("Fix the rows with errors first; nothing was imported.")
        ) from exc
    audit_record(
        actor=actor,
        instance=project,
        action=AuditEntry.Action.CREATE,
        changes={"units": {"old": "", "new": str(len(units))}},
    )
    return len(units)


def _create(project: Project, rows: list[UnitRow]) -> list[Unit]:
    buildings: dict[str, Building] = {}
    for name in sorted({row.values["building"] for row in rows}):
        mine = [r.values for r in rows if r.values["building"] == name]
        building, _created = Building.objects.select_for_update().get_or_create(
            project=project,
            name=name,
            defaults={
                "floors": len({v["floor"] for v in mine}),
                "units_per_floor": max(v["position"] for v in mine),
            },
        )
        buildings[name] = building
    taken = set(
        Unit.objects.filter(building__in=buildings.values()).values_list(
            "building__name", "number"
        )
    )
    if any((r.values["building"], r.values["number"]) in taken for r in rows):
        raise ValidationError(
            _("Some units were created meanwhile; run the dry run again.")
        )
    return Unit.objects.bulk_create(
        Unit(
            building=buildings[v["building"]],
            **{
                k: v[k]
                for k in (
                    "number",
                    "floor",
                    "position",
                    "layout",
                    "gross_area",
                    "net_area",
                    "orientation",
                    "list_price",
                    "floor_price",
                )
            },
        )
        for v in (row.values for row in rows)
    )


CHECK_CACHE = "sales-unit-import:{token}"
CHECK_SECONDS = 1800
CHECKING, CHECKED, REFUSED = "checking", "checked", "refused"


def units_check_state(*, token: str, actor: User) -> dict | None:
    """The dry run behind a token, if it is this user's and has not expired."""
    state = cache.get(CHECK_CACHE.format(token=token)) if token else None
    if not state or state.get("user") != actor.pk:
        return None
    return state


def units_check_queue(*, actor: User, project: Project, upload) -> str:
    """Store the upload and queue its dry run; returns the token of the dry run."""
    from sales import tasks

    extension = spreadsheets.extension_of(getattr(upload, "name", "") or "")
    upload.seek(0)
    data = upload.read()
    try:
        spreadsheets.precheck(data, extension=extension, limits=LIMITS)
    except spreadsheets.SpreadsheetRefused as exc:
        raise ValidationError(str(exc)) from exc
    token = secrets.token_urlsafe(16)
    path = default_storage.save(f"unit-imports/{token}{extension}", ContentFile(data))
    cache.set(
        CHECK_CACHE.format(token=token),
        {
            "user": actor.pk,
            "project": project.pk,
            "status": CHECKING,
            "file": path,
            "name": f"units{extension}",
        },
        CHECK_SECONDS,
    )
    tasks.unit_import_check.delay_on_commit(token)
    return token


def units_check_run(*, token: str) -> None:
    """The queued dry run: its rows (or the file's refusal) replace the state. A
    second delivery finds the dry run done and does nothing."""
    key = CHECK_CACHE.format(token=token)
    state = cache.get(key)
    if not state or state.get("status") != CHECKING:
        return
    try:
        project = Project.objects.get(pk=state["project"])
        with default_storage.open(state["file"], "rb") as handle:
            rows = units_parse(project=project, upload=File(handle, name=state["name"]))
    except ValidationError as exc:
        state.update(status=REFUSED, error=" ".join(exc.messages))
    except (Project.DoesNotExist, OSError):
        state.update(
            status=REFUSED, error=_("The dry run has expired; upload the file again.")
        )
    else:
        state.update(status=CHECKED, rows=rows)
    default_storage.delete(state["file"])
    cache.set(key, state, CHECK_SECONDS)
