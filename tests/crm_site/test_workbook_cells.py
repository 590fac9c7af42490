"""Control characters never reach a workbook: the shared reader drops them from what
is imported, and every workbook the CRM writes goes through spreadsheets.sheet_row
(text from the API or an older import is cleaned as it is written). The reader's
row limit counts the rows a sheet holds, not the numbers they declare."""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation
from openpyxl import Workbook, load_workbook

from crm_site import spreadsheets
from customers.models import Customer, ImportJob
from customers.services import imports
from tests.factories import CustomerFactory, make_building
from tests.insight_fixtures import facts_refreshed, sell


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


def run_import(actor, data: bytes, name: str) -> ImportJob:
    job = imports.import_upload(
        actor=actor, uploaded_file=SimpleUploadedFile(name, data)
    )
    job = imports.import_check(job=job, mapping=job.mapping)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.QUEUED)
    imports.import_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def sheet_rows(content: bytes, index: int = 0) -> list[tuple]:
    book = load_workbook(io.BytesIO(content), read_only=True)
    return list(book.worksheets[index].iter_rows(values_only=True))


# Reading -------------------------------------------------------------------------


def test_the_reader_drops_control_characters_but_keeps_tabs_and_line_breaks():
    assert spreadsheets.cell_text("安居\x1b地产") == "安居地产"
    assert spreadsheets.cell_text("\x01a\x0bb\x0c\x7fc\x00") == "abc"
    assert spreadsheets.cell_text("第一行\n第二行\t完") == "第一行\n第二行\t完"


def test_a_control_character_in_an_imported_csv_is_not_stored(sales_manager):
    # One stray ESC among 21 rows: far below the reader's "binary noise" threshold.
    others = "".join(f"客户{i},1390000{i:04d},某某有限公司\n" for i in range(20))
    text = (
        "姓名,手机,公司,备注\n甲\x01,13812345670,安居\x1b地产,一行\x0b二行\n" + others
    )
    job = run_import(sales_manager, text.encode("utf-8-sig"), "客户.csv")
    assert job.status == ImportJob.Status.DONE
    customer = Customer.objects.get(mobile="+8613812345670")
    assert (customer.name, customer.company, customer.notes) == (
        "甲",
        "安居地产",
        "一行二行",
    )


# Writing -------------------------------------------------------------------------


def test_a_cell_is_written_without_control_characters_and_never_as_a_formula():
    book = Workbook()
    sheet = book.active
    sheet.append(spreadsheets.sheet_row(sheet, ["安居\x1b地产", "=1+1", 3, None]))
    out = io.BytesIO()
    book.save(out)
    assert sheet_rows(out.getvalue()) == [("安居地产", "=1+1", 3, None)]
    assert load_workbook(io.BytesIO(out.getvalue())).active["B1"].data_type == "s"


def test_the_customer_export_writes_a_control_character_that_came_by_another_way(
    client, sales_manager
):
    # The API or an import made before the reader dropped them.
    CustomerFactory(name="甲", mobile="+8613812345670", company="安居\x1b地产")
    client.force_login(sales_manager)
    response = client.get(reverse("customers:customer-export"), {"format": "xlsx"})
    assert response.status_code == 200
    rows = sheet_rows(response.content)
    assert any("安居地产" in row for row in rows[1:])


def test_a_personal_data_export_writes_a_control_character(client, administrator):
    customer = CustomerFactory(
        name="甲", mobile="+8613812345670", company="安居\x1b地产"
    )
    client.force_login(administrator)
    response = client.post(
        reverse("customers:personal-data-export", args=[customer.pk]),
        {"reference": "PIPL-1", "reason": "本人申请", "file_format": "xlsx"},
    )
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content), read_only=True)
    cells = {
        value
        for sheet in book.worksheets
        for row in sheet.iter_rows(values_only=True)
        for value in row
    }
    assert "安居地产" in cells


def test_the_explorer_export_writes_a_label_with_a_control_character(
    client, consultant, sales_manager
):
    building = make_building(project_name="安居\x1b御景湾", floors=1, per_floor=2)
    sell(building, consultant, contract=True)
    facts_refreshed("sales.deals")
    client.force_login(sales_manager)
    response = client.get(
        reverse("explorer-export"), {"measure": "deals", "dim": "project"}
    )
    assert response.status_code == 200
    labels = [row[0] for row in sheet_rows(response.content)]
    assert "安居御景湾" in labels


# The row limit -------------------------------------------------------------------


def _edit_sheet(data: bytes, edit) -> bytes:
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for name in src.namelist():
            member = src.read(name)
            if name in ("xl/worksheets/sheet1.xml", "xl/sharedStrings.xml"):
                member = edit(member.decode()).encode()
            dst.writestr(name, member)
    return out.getvalue()


def _numbered(numbers: list[int]) -> bytes:
    book = Workbook()
    book.active.append(["姓名", "手机"])
    out = io.BytesIO()
    book.save(out)
    rows = "".join(
        f'<row r="{n}"><c r="A{n}" t="inlineStr"><is><t>客户{i}</t></is></c>'
        f'<c r="B{n}" t="inlineStr"><is><t>1390000{i:04d}</t></is></c></row>'
        for i, n in enumerate(numbers)
    )
    return _edit_sheet(
        out.getvalue(),
        lambda xml: re.sub(
            r"(<sheetData>.*?)(</sheetData>)", r"\1" + rows + r"\2", xml
        ),
    )


def _read(data: bytes, limits: spreadsheets.Limits) -> list[tuple[int, list[str]]]:
    with spreadsheets.read_rows(
        io.BytesIO(data), extension=".xlsx", limits=limits
    ) as rows:
        return list(rows)


def test_the_row_limit_counts_rows_not_the_row_numbers_a_workbook_declares():
    limits = spreadsheets.Limits(max_rows=5)
    with pytest.raises(spreadsheets.SpreadsheetRefused):
        # Ten data rows, each declaring itself row 2.
        _read(_numbered([2] * 10), limits)


def test_rows_that_declare_no_number_are_counted():
    data = _edit_sheet(
        _numbered(list(range(2, 12))), lambda xml: re.sub(r' r="[A-Z]*\d+"', "", xml)
    )
    assert len(_read(data, spreadsheets.Limits(max_rows=11))) == 11
    with pytest.raises(spreadsheets.SpreadsheetRefused, match="more than 10 rows"):
        _read(data, spreadsheets.Limits(max_rows=10))


def test_row_numbers_that_go_back_are_not_a_valid_spreadsheet():
    with pytest.raises(spreadsheets.SpreadsheetRefused, match="not a valid"):
        _read(_numbered([3, 2]), spreadsheets.Limits(max_rows=50))


def test_honestly_numbered_rows_within_the_limit_are_read_with_their_numbers():
    rows = _read(_numbered([2, 3, 7]), spreadsheets.Limits(max_rows=7))
    assert [line for line, _cells in rows] == [1, 2, 3, 7]
    with pytest.raises(spreadsheets.SpreadsheetRefused, match="more than 6 rows"):
        # Blank rows in between still count, as a spreadsheet program shows them.
        _read(_numbered([2, 3, 7]), spreadsheets.Limits(max_rows=6))
