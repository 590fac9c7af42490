"""Uploaded spreadsheets are read with limits: a hostile file is refused with a
message that says why, nothing is kept, and the request answers at once."""

from __future__ import annotations

import io
import time
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation
from openpyxl import Workbook

from crm_site import spreadsheets
from customers.models import Customer, ImportJob
from customers.services import imports
from sales.models import Project, Unit
from sales.services import unit_import
from tests.factories import make_building

# Far more than any of these requests needs; only a hang or a padded sheet exceeds it.
SANITY_SECONDS = 10


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


def workbook_bytes(rows: list[list[object]]) -> bytes:
    workbook = Workbook()
    for row in rows:
        workbook.active.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def rewrite_sheet(data: bytes, change) -> bytes:
    """The workbook with its first sheet's XML passed through change()."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                content = change(content.decode()).encode()
            target.writestr(item.filename, content)
    return out.getvalue()


CUSTOMERS = [["姓名", "手机"], ["王五", "13812345678"]]


def declared_huge() -> bytes:
    """A few KB that claim a sheet of 1,048,576 rows by 16,384 columns."""
    return rewrite_sheet(
        workbook_bytes(CUSTOMERS),
        lambda xml: xml.replace(
            '<dimension ref="A1:B2" />', '<dimension ref="A1:XFD1048576" />'
        ),
    )


def far_cell() -> bytes:
    """A tiny sheet with one more cell in the very last row Excel allows."""
    return rewrite_sheet(
        workbook_bytes(CUSTOMERS),
        lambda xml: xml.replace(
            "</sheetData>",
            '<row r="1048576"><c r="A1048576" t="inlineStr"><is><t>x</t></is></c>'
            "</row></sheetData>",
        ),
    )


def far_column() -> bytes:
    return rewrite_sheet(
        workbook_bytes(CUSTOMERS),
        lambda xml: xml.replace(
            "</row>",
            '<c r="XFD1" t="inlineStr"><is><t>x</t></is></c></row>',
            1,
        ),
    )


def zip_bomb() -> bytes:
    """A valid-looking workbook whose sheet unpacks a thousand times its size."""
    padding = " " * (16 * 1024 * 1024)
    return rewrite_sheet(
        workbook_bytes(CUSTOMERS),
        lambda xml: xml.replace("<sheetData>", "<sheetData>" + padding),
    )


def csv_bytes(rows: list[list[str]]) -> bytes:
    return "\n".join(",".join(row) for row in rows).encode("utf-8")


HOSTILE = {
    "far-column": ("客户.xlsx", far_column, "more than 100 columns"),
    "zip-bomb": ("客户.xlsx", zip_bomb, "unpacks to more data"),
    "garbage-xlsx": ("客户.xlsx", lambda: bytes(range(256)) * 20, "not a valid spreadsheet"),
    "fake-zip": ("客户.xlsx", lambda: b"PK\x03\x04" + b"\x00" * 4000, "not a valid spreadsheet"),
    "garbage-csv": ("客户.csv", lambda: bytes(range(256)) * 20, "not a valid spreadsheet"),
    "csv-nul": ("客户.csv", lambda: "姓名,手机\n王\x00五,13812345678\n".encode(), "not a valid spreadsheet"),
    "csv-columns": ("客户.csv", lambda: csv_bytes([[f"c{i}" for i in range(101)], ["x"] * 101]), "more than 100 columns"),
    "csv-long-cell": ("客户.csv", lambda: csv_bytes([["姓名", "手机"], ["王" * 40_000, "13812345678"]]), "longer than 32,767 characters"),
}  # fmt: skip


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_customer_upload_refuses_a_hostile_file_quickly_and_keeps_nothing(
    client, sales_manager, kind
):
    name, make, message = HOSTILE[kind]
    client.force_login(sales_manager)
    upload = SimpleUploadedFile(name, make())
    started = time.monotonic()
    response = client.post(reverse("customers:import-upload"), {"file": upload})
    assert time.monotonic() - started < SANITY_SECONDS
    assert response.status_code == 200
    assert message in str(response.context["form"].errors["file"])
    assert not ImportJob.objects.exists()
    assert not Customer.objects.exists()


def test_a_declared_dimension_is_ignored_and_only_the_real_rows_are_read(
    sales_manager,
):
    started = time.monotonic()
    job = imports.import_upload(
        actor=sales_manager,
        uploaded_file=SimpleUploadedFile("客户.xlsx", declared_huge()),
    )
    job = imports.import_check(job=job, mapping=job.mapping)
    assert time.monotonic() - started < SANITY_SECONDS
    assert (job.total_rows, job.created_count) == (1, 1)


def test_a_cell_in_the_last_row_excel_allows_is_refused_by_the_dry_run(
    client, sales_manager
):
    # The upload reads the first rows only; the worker's dry run meets the far row.
    client.force_login(sales_manager)
    upload = SimpleUploadedFile("客户.xlsx", far_cell())
    started = time.monotonic()
    response = client.post(reverse("customers:import-upload"), {"file": upload})
    assert time.monotonic() - started < SANITY_SECONDS
    assert response.status_code == 302
    job = ImportJob.objects.get()
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.CHECKING, mapping=job.mapping
    )
    started = time.monotonic()
    imports.import_check_run(job_id=job.pk)
    assert time.monotonic() - started < SANITY_SECONDS
    job.refresh_from_db()
    assert job.status == ImportJob.Status.UPLOADED
    assert "more than 300,000 rows" in job.error
    assert not Customer.objects.exists()
    body = client.get(reverse("customers:import-detail", args=[job.pk])).content
    assert "more than 300,000 rows" in body.decode()


def test_the_dry_run_in_the_worker_refuses_too_many_rows_and_saves_nothing(
    sales_manager, monkeypatch
):
    monkeypatch.setattr(
        imports, "IMPORT_LIMITS", spreadsheets.Limits(max_rows=20, max_columns=100)
    )
    rows = [["姓名", "手机"]] + [[f"客户{i}", f"138{i:08d}"] for i in range(30)]
    # The upload reads only the first rows: the whole file is read by the dry run.
    job = imports.import_upload(
        actor=sales_manager,
        uploaded_file=SimpleUploadedFile("客户.csv", csv_bytes(rows)),
    )
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.CHECKING)
    imports.import_check_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.UPLOADED
    assert "more than 20 rows" in job.error
    assert not Customer.objects.exists()


def test_the_run_stops_at_the_same_limits(sales_manager, monkeypatch):
    rows = [["姓名", "手机"]] + [[f"客户{i}", f"138{i:08d}"] for i in range(30)]
    job = imports.import_upload(
        actor=sales_manager,
        uploaded_file=SimpleUploadedFile("客户.csv", csv_bytes(rows)),
    )
    job = imports.import_check(job=job, mapping=job.mapping)
    monkeypatch.setattr(
        imports, "IMPORT_LIMITS", spreadsheets.Limits(max_rows=20, max_columns=100)
    )
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.QUEUED)
    imports.import_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    assert "more than 20 rows" in job.error


UNIT_HEADER = ["楼栋", "房号", "楼层", "位置", "建筑面积", "表价"]
UNIT_ROW = ["1号楼", "101", "1", "1", "89.5", "1200000"]


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("units.xlsx", lambda: zip_bomb(), "unpacks to more data"),
        (
            "units.xlsx",
            lambda: rewrite_sheet(
                workbook_bytes([UNIT_HEADER, UNIT_ROW]),
                lambda xml: xml.replace(
                    "</sheetData>",
                    '<row r="1048576"><c r="A1048576" t="inlineStr"><is><t>x</t>'
                    "</is></c></row></sheetData>",
                ),
            ),
            "more than 5,001 rows",
        ),
        ("units.xlsx", lambda: b"\x00garbage" * 500, "not a valid spreadsheet"),
        (
            "units.csv",
            lambda: csv_bytes([UNIT_HEADER] + [UNIT_ROW] * 5_001),
            "more than 5,001 rows",
        ),
        (
            "units.csv",
            lambda: b"\xef\xbb\xbf\xe6\xa5\xbc\x00\x00,1\n",
            "not a valid spreadsheet",
        ),
        (
            "units.csv",
            lambda: csv_bytes([UNIT_HEADER + [f"x{i}" for i in range(60)]]),
            "more than 50 columns",
        ),
    ],
    ids=["zip-bomb", "far-cell", "garbage", "rows", "nul", "columns"],
)
def test_unit_import_refuses_a_hostile_file_quickly_and_creates_nothing(
    client, sales_manager, name, make, message
):
    make_building()
    project = Project.objects.get()
    units_before = Unit.objects.count()
    client.force_login(sales_manager)
    upload = SimpleUploadedFile(name, make())
    started = time.monotonic()
    response = client.post(
        reverse("sales:unit-import"), {"project": project.pk, "file": upload}
    )
    assert time.monotonic() - started < SANITY_SECONDS
    if response.status_code == 302:
        # Stored and queued: the worker's dry run refuses it.
        unit_import.units_check_run(token=response["Location"].split("check=")[1])
        response = client.get(response["Location"])
        assert message in response.context["refusal"]
    else:
        assert response.status_code == 200
        assert message in str(response.context["form"].errors["file"])
    assert message in response.content.decode()
    assert Unit.objects.count() == units_before


def test_the_reader_checks_the_zip_before_unpacking_anything():
    data = workbook_bytes(CUSTOMERS)
    tight = spreadsheets.Limits(max_members=3)
    with (
        pytest.raises(spreadsheets.SpreadsheetRefused, match="unpacks to more"),
        spreadsheets.read_rows(io.BytesIO(data), extension=".xlsx", limits=tight),
    ):
        pass
    small = spreadsheets.Limits(max_total_bytes=1000)
    with (
        pytest.raises(spreadsheets.SpreadsheetRefused, match="unpacks to more"),
        spreadsheets.read_rows(io.BytesIO(data), extension=".xlsx", limits=small),
    ):
        pass


def test_the_reader_reads_numbers_dates_and_shared_strings_as_people_see_them():
    from datetime import date

    data = workbook_bytes(
        [["姓名", "手机", "日期"], ["王五", 13812345678, date(2026, 1, 2)]]
    )
    with spreadsheets.read_rows(io.BytesIO(data), extension=".xlsx") as rows:
        assert list(rows) == [
            (1, ["姓名", "手机", "日期"]),
            (2, ["王五", "13812345678", "2026-01-02"]),
        ]


def with_shared_strings(strings: list[str], rows: list[list[int]]) -> bytes:
    """A workbook as Excel writes it: cells point into a shared-string table."""
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    table = "".join(f"<si><t>{text}</t></si>" for text in strings)
    cells = "".join(
        f'<row r="{r}">'
        + "".join(
            f'<c r="{chr(65 + c)}{r}" t="s"><v>{i}</v></c>' for c, i in enumerate(row)
        )
        + "</row>"
        for r, row in enumerate(rows, start=1)
    )
    source = zipfile.ZipFile(io.BytesIO(workbook_bytes([["x"]])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                content = f'<worksheet xmlns="{main}"><sheetData>{cells}</sheetData></worksheet>'.encode()
            elif item.filename == "[Content_Types].xml":
                content = content.replace(
                    b"</Types>",
                    b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                    b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
                    b"</Types>",
                )
            target.writestr(item.filename, content)
        target.writestr(
            "xl/sharedStrings.xml",
            f'<sst xmlns="{main}" count="{len(strings)}">{table}</sst>',
        )
    return out.getvalue()


def test_the_reader_resolves_shared_strings_and_refuses_a_dangling_index():
    data = with_shared_strings(
        ["姓名", "手机", "王五", "13812345678"], [[0, 1], [2, 3]]
    )
    with spreadsheets.read_rows(io.BytesIO(data), extension=".xlsx") as rows:
        assert list(rows) == [(1, ["姓名", "手机"]), (2, ["王五", "13812345678"])]
    broken = with_shared_strings(["姓名"], [[0, 7]])
    with (
        pytest.raises(spreadsheets.SpreadsheetRefused, match="not a valid"),
        spreadsheets.read_rows(io.BytesIO(broken), extension=".xlsx") as rows,
    ):
        list(rows)


def test_a_damaged_workbook_is_refused_never_an_error():
    """Seeded mutations of every part of a real workbook: each is read or refused
    with the reader's message; nothing else escapes (openpyxl raises TypeError,
    ValueError, KeyError … on damaged XML)."""
    import random
    from datetime import date

    base = zipfile.ZipFile(
        io.BytesIO(
            workbook_bytes(
                [["姓名", "手机", "日期"], ["王五", 13812345678, date(2026, 1, 2)]]
            )
        )
    )
    parts = {item.filename: base.read(item.filename) for item in base.infolist()}
    rng = random.Random(11)
    inserts = [b'"', b"<", b"9999999", b'r="XFD9"', b't="s"', b't="d"', b's="99"']
    for _ in range(300):
        name = rng.choice(sorted(parts))
        data = bytearray(parts[name])
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(data))
            choice = rng.random()
            if choice < 0.4:
                data[at] = rng.randrange(256)
            elif choice < 0.7:
                del data[at : at + rng.randint(1, 20)]
            else:
                data[at:at] = rng.choice(inserts)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as target:
            for part, content in parts.items():
                target.writestr(part, bytes(data) if part == name else content)
        try:
            with spreadsheets.read_rows(
                io.BytesIO(out.getvalue()), extension=".xlsx"
            ) as rows:
                list(rows)
        except spreadsheets.SpreadsheetRefused:
            pass


def test_random_bytes_as_csv_are_read_or_refused_never_an_error():
    import random

    rng = random.Random(7)
    alphabet = b'ab,;\t"\r\n\x00\xff\xfe\xe4\xb8\xad'
    for _ in range(300):
        data = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 200)))
        try:
            with spreadsheets.read_rows(io.BytesIO(data), extension=".csv") as rows:
                list(rows)
        except spreadsheets.SpreadsheetRefused:
            pass
