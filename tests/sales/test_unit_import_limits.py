"""Unit import: a value the database cannot store is a row error in the dry run,
never a 500 when the user presses Import (sales.services.unit_import)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation

from sales.models import Building, Project, Unit
from sales.services import unit_import

pytestmark = pytest.mark.django_db

HEADER = "楼栋,房号,楼层,位置,户型,建筑面积,套内面积,朝向,表价,底价"
GOOD = "5号楼,101,1,1,3室2厅2卫,120.5,95,南,3600000,3400000"


@pytest.fixture
def project(db):
    return Project.objects.create(name="安居·新城")


def _csv(*lines: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("units.csv", "\n".join([HEADER, *lines]).encode())


def _errors(project, line: str) -> list[str]:
    with translation.override("en"):
        [row] = unit_import.units_parse(project=project, upload=_csv(line))
    return row.errors


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (
            "5号楼,5号楼2单元1801室南向边套带入户花园样板,18,1,,120.5,95,南,3600000,",
            "Unit number is too long (at most 20 characters).",
        ),
        (
            "5号楼" + "甲" * 60 + ",101,1,1,,120.5,95,南,3600000,",
            "Building is too long (at most 50 characters).",
        ),
        (
            "5号楼,101,40000,1,,120.5,95,南,3600000,",
            "Floor must be between -32768 and 32767.",
        ),
        (
            "5号楼,101,1,40000,,120.5,95,南,3600000,",
            "Position must be between 1 and 32767.",
        ),
        (
            "5号楼,101,1,1,,1205000,95,南,3600000,",
            "Gross area is too large (at most 999999.99).",
        ),
        (
            "5号楼,101,1,1,,120.5,1e6,南,3600000,",
            "Net area is too large (at most 999999.99).",
        ),
        (
            "5号楼,101,1,1,,120.5,95,南,3600000120500000,",
            "List price is too large (at most 999999999999.99).",
        ),
        (
            "5号楼,101,1,1,,120.5,95,南,3600000,3600000120500000",
            "Floor price is too large (at most 999999999999.99).",
        ),
        (
            "5号楼,101,1,1,,120.555,95,南,3600000,",
            "Gross area has more than 2 decimal places.",
        ),
        (
            "5号楼,101,1,1,,Infinity,95,南,3600000,",
            "Gross area is not a number: Infinity",
        ),
        ("5号楼,101,1,1,,NaN,95,南,3600000,", "Gross area is not a number: NaN"),
        (
            "5号楼,101,1,1,,120.5,95,南,-Infinity,",
            "List price is not a number: -Infinity",
        ),
        ("5号楼,101,1,1,,120.5,sNaN,南,3600000,", "Net area is not a number: sNaN"),
    ],
)
def test_a_value_the_database_cannot_hold_is_a_clear_row_error(project, line, error):
    # First: a cross-column check (net above gross) may follow.
    assert _errors(project, line)[0] == error


@pytest.mark.parametrize(
    "line",
    [
        GOOD,
        # The largest values the columns hold; trailing zeros are no decimal places.
        "5" * 50 + "," + "1" * 20 + ",-32768,32767,,999999.99,95.500,南,"
        "999999999999.99,1,000,000",
        "5号楼,101,32767,1,,1.2E+2,95,南,3.6E+6,",
    ],
    ids=["plain", "at-the-limits", "exponent"],
)
def test_values_within_the_columns_limits_pass(project, line):
    assert _errors(project, line) == []


@pytest.mark.parametrize(
    "line",
    [
        "5号楼,5号楼2单元1801室南向边套带入户花园样板,18,1,3室2厅2卫,120.5,95,南,3600000,",
        "5号楼" + "甲" * 60 + ",101,1,1,3室2厅2卫,120.5,95,南,3600000,",
        "5号楼,101,40000,1,3室2厅2卫,120.5,95,南,3600000,",
        "5号楼,101,1,1,3室2厅2卫,1205000,95,南,3600000,",
        "5号楼,101,1,1,3室2厅2卫,120.5,95,南,3600000120500000,",
        "5号楼,101,1,1,3室2厅2卫,Infinity,95,南,3600000,",
        "5号楼,101,1,1,3室2厅2卫,NaN,95,南,3600000,",
    ],
    ids=["long-number", "long-building", "floor", "area", "price", "infinity", "nan"],
)
def test_the_dry_run_page_shows_the_bad_row_and_offers_no_import(
    client, sales_manager, project, line
):
    client.force_login(sales_manager)
    response = client.post(
        reverse("sales:unit-import"), {"project": project.pk, "file": _csv(line)}
    )
    assert response.status_code == 302
    token = response["Location"].split("check=")[1]
    # The worker's dry run finishes (a NaN once left it "checking" for ever).
    unit_import.units_check_run(token=token)
    state = unit_import.units_check_state(token=token, actor=sales_manager)
    assert state["status"] == unit_import.CHECKED
    dry = client.get(response["Location"])
    assert dry.status_code == 200
    assert dry.context["error_count"] == 1
    done = client.post(reverse("sales:unit-import"), {"token": token})
    assert done.status_code == 302
    assert not Unit.objects.exists()


def _row(line: int = 2, **values) -> unit_import.UnitRow:
    base = {
        "building": "5号楼",
        "number": "101",
        "floor": 1,
        "position": 1,
        "layout": "",
        "gross_area": Decimal("120.50"),
        "net_area": None,
        "orientation": "S",
        "list_price": Decimal("3600000"),
        "floor_price": None,
    }
    return unit_import.UnitRow(line=line, values={**base, **values})


@pytest.mark.parametrize(
    "bad",
    [
        {"number": "1" * 21},
        {"building": "楼" * 51},
        {"floor": 40000},
        {"gross_area": Decimal("1205000")},
    ],
    ids=["number", "building", "floor", "area"],
)
def test_a_row_the_database_refuses_on_import_is_the_fix_the_rows_message(
    project, sales_manager, bad
):
    """The safety net behind the dry run: rows checked before a limit changed."""
    rows = [_row(), _row(line=3, **{"number": "102", "position": 2, **bad})]
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        unit_import.units_import(actor=sales_manager, project=project, rows=rows)
    assert refused.value.messages == [
        "Fix the rows with errors first; nothing was imported."
    ]
    assert not Unit.objects.exists()
    assert not Building.objects.filter(project=project).exists()


def test_after_a_refused_import_the_next_one_works(project, sales_manager):
    with pytest.raises(ValidationError):
        unit_import.units_import(
            actor=sales_manager, project=project, rows=[_row(number="1" * 21)]
        )
    assert (
        unit_import.units_import(actor=sales_manager, project=project, rows=[_row()])
        == 1
    )
