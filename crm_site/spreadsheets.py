"""Reading uploaded spreadsheets (XLSX and CSV) with limits, for every import.

An uploaded file is untrusted: a 5 KB workbook can declare a sheet of a million rows
by 16,384 columns, a zip of 1 MB can unpack to gigabytes, a "CSV" can be binary. So
before anything is parsed the zip's directory is checked (members, sizes, compression
ratio); the sheet's declared dimension is never read (openpyxl walks the whole sheet
to find it when it is missing, and pads every row to it when it is present); rows,
columns and cell lengths are counted while reading and the first one past its limit
stops the read with a message for the user. Shared strings are parsed only as far
as the rows read so far need them, so reading a file's first rows stays cheap
however big the file is.

Every refusal is a SpreadsheetRefused whose message is translated and says what to
change; callers turn it into a form error, never a 500.

Writing goes through ``sheet_row``: every workbook the CRM produces (customer
exports, personal-data exports, the explorer) writes its cells that way, so text
from any source (an import, a form, the API) can neither break the file nor run as
a formula.
"""

from __future__ import annotations

import csv
import io
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import PurePath
from typing import IO, Any

from django.utils.translation import gettext as _

from crm_site.middleware import CONTROL_CHARACTERS

EXTENSIONS = (".csv", ".xlsx")


class SpreadsheetRefused(Exception):
    """A file that is not read; the message is for the user."""


@dataclass(frozen=True)
class Limits:
    """What one upload may hold. The defaults suit a 20 MB customer file."""

    # Rows of the sheet, counting the header row and blank rows in between.
    max_rows: int = 300_000
    max_columns: int = 100
    # Excel's own limit for one cell.
    max_cell_chars: int = 32_767
    # Zip checks for .xlsx: a workbook from Excel or WPS has a few dozen members.
    max_members: int = 1_000
    max_member_bytes: int = 300 * 1024 * 1024
    max_total_bytes: int = 500 * 1024 * 1024
    # Shared strings are kept in memory, so they get a tighter bound than the sheet.
    max_strings_bytes: int = 64 * 1024 * 1024
    # Sheet XML compresses 10-30 times; a zip bomb a thousand times.
    max_ratio: int = 100


DEFAULT_LIMITS = Limits()
# Below this a member's compression ratio says nothing (tiny files compress oddly).
RATIO_FLOOR_BYTES = 1024 * 1024


def not_a_spreadsheet() -> SpreadsheetRefused:
    return SpreadsheetRefused(
        _(
            "The file is not a valid spreadsheet. Save it from Excel or WPS as an "
            "Excel workbook (.xlsx) or as “CSV UTF-8” and upload it again."
        )
    )


def too_many_rows(limits: Limits) -> SpreadsheetRefused:
    return SpreadsheetRefused(
        _("The file has more than %(limit)s rows. Split it into several files.")
        % {"limit": f"{limits.max_rows:,}"}
    )


def too_many_columns(limits: Limits) -> SpreadsheetRefused:
    return SpreadsheetRefused(
        _("The file has more than %(limit)s columns. Keep only the columns to import.")
        % {"limit": limits.max_columns}
    )


def cell_too_long(line: int, limits: Limits) -> SpreadsheetRefused:
    return SpreadsheetRefused(
        _("Row %(row)s has a cell longer than %(limit)s characters.")
        % {"row": line, "limit": f"{limits.max_cell_chars:,}"}
    )


def too_big_unpacked() -> SpreadsheetRefused:
    return SpreadsheetRefused(
        _(
            "The workbook unpacks to more data than an import may read. Save only "
            "the sheet to import, without pictures, and upload it again."
        )
    )


def extension_of(name: str) -> str:
    return PurePath(name or "").suffix.lower()


def cell_text(value: object) -> str:
    """One cell as the text a person sees in it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        # Excel keeps numbers typed as numbers as floats: 13800138000.0
        return str(int(value))
    if isinstance(value, datetime):
        if value.time() == time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    # PostgreSQL refuses NUL in text; a workbook can smuggle one in as _x0000_. The
    # other control characters (an ESC pasted from a terminal) would be stored and
    # then break every workbook the customer is written to: the form rule
    # (crm_site.middleware) drops them, keeping tab, newline and carriage return.
    return CONTROL_CHARACTERS.sub("", str(value).replace("\x00", "")).strip()


# Writing ---------------------------------------------------------------------------


def sheet_cell(sheet: Any, value: object) -> Any:
    """One cell for ``sheet`` (write-only or not) holding ``value``: text without the
    control characters openpyxl refuses to write (IllegalCharacterError), and kept
    as text when it starts with "=" (a customer's text is never a formula)."""
    from openpyxl.cell import WriteOnlyCell

    if isinstance(value, str):
        value = CONTROL_CHARACTERS.sub("", value.replace("\x00", ""))
    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"
    return cell


def sheet_row(sheet: Any, values: Iterable[object]) -> list[Any]:
    """A row for ``sheet.append``, every value through ``sheet_cell``."""
    return [sheet_cell(sheet, value) for value in values]


# XLSX ------------------------------------------------------------------------------


def check_zip(archive: zipfile.ZipFile, limits: Limits = DEFAULT_LIMITS) -> None:
    """Refuse a zip whose directory promises more than an import may unpack.

    zipfile never returns more bytes than a member's declared size (and checks the
    CRC at its end), so the declared sizes bound what reading can cost."""
    members = archive.infolist()
    if len(members) > limits.max_members:
        raise too_big_unpacked()
    total = 0
    for member in members:
        if member.flag_bits & 0x1:
            # Encrypted: a password-protected workbook.
            raise SpreadsheetRefused(
                _(
                    "The workbook is protected by a password. Remove it and upload again."
                )
            )
        size = member.file_size
        total += size
        if size > limits.max_member_bytes or total > limits.max_total_bytes:
            raise too_big_unpacked()
        if size > RATIO_FLOOR_BYTES and size > limits.max_ratio * max(
            member.compress_size, 1
        ):
            raise too_big_unpacked()
        if member.filename.endswith("sharedStrings.xml") and (
            size > limits.max_strings_bytes
        ):
            raise too_big_unpacked()


class _LazyStrings:
    """The shared-string table, parsed only as far as the cells read need it."""

    def __init__(self, source: IO[bytes]) -> None:
        from openpyxl.cell.text import Text
        from openpyxl.xml.constants import SHEET_MAIN_NS
        from openpyxl.xml.functions import iterparse

        self._source = source
        self._events = iterparse(source)
        self._tag = f"{{{SHEET_MAIN_NS}}}si"
        self._text = Text
        self._items: list[str] = []

    def __getitem__(self, index: int) -> str:
        while len(self._items) <= index:
            try:
                _event, node = next(self._events)
            except StopIteration:
                raise IndexError(index) from None
            if node.tag == self._tag:
                text = self._text.from_tree(node).content
                self._items.append(text.replace("x005F_", ""))
                node.clear()
        return self._items[index]

    def close(self) -> None:
        self._source.close()


@dataclass
class _Sheet:
    archive: zipfile.ZipFile
    path: str
    strings: _LazyStrings | list[str]
    workbook: Any


def _open_xlsx(stream: IO[bytes], limits: Limits) -> _Sheet:
    """The workbook's first worksheet, without reading its rows."""
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.styles.stylesheet import apply_stylesheet
    from openpyxl.xml.constants import SHARED_STRINGS

    try:
        reader = ExcelReader(stream, read_only=True, data_only=True, keep_links=False)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise not_a_spreadsheet() from exc
    archive = reader.archive
    try:
        check_zip(archive, limits)
        reader.read_manifest()
        part = reader.package.find(SHARED_STRINGS)
        strings: _LazyStrings | list[str] = []
        if part is not None:
            strings = _LazyStrings(archive.open(part.PartName[1:]))
        reader.read_workbook()
        # Number formats tell dates from numbers.
        apply_stylesheet(archive, reader.wb)
        for _sheet, rel in reader.parser.find_sheets():
            if rel.target in reader.valid_files and "chartsheet" not in rel.Type:
                return _Sheet(archive, rel.target, strings, reader.wb)
    except SpreadsheetRefused:
        archive.close()
        raise
    except Exception as exc:
        # openpyxl raises whatever its parsers meet on damaged XML.
        archive.close()
        raise not_a_spreadsheet() from exc
    archive.close()
    raise not_a_spreadsheet()


def _parsed(parser: Any) -> Iterator[tuple[int, list[dict]]]:
    """openpyxl's rows; whatever it raises on a damaged sheet (TypeError from its
    descriptors, ValueError, ParseError, a bad CRC, a dangling shared-string index)
    means the file is not a valid spreadsheet."""
    rows = parser.parse()
    while True:
        try:
            item = next(rows)
        except StopIteration:
            return
        except Exception as exc:
            raise not_a_spreadsheet() from exc
        yield item


def _xlsx_rows(sheet: _Sheet, limits: Limits) -> Iterator[tuple[int, list[str]]]:
    from openpyxl.worksheet._reader import WorkSheetParser

    workbook = sheet.workbook
    try:
        source = sheet.archive.open(sheet.path)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise not_a_spreadsheet() from exc
    with source:
        parser = WorkSheetParser(
            source,
            sheet.strings,
            data_only=True,
            epoch=workbook.epoch,
            date_formats=workbook._date_formats,
            timedelta_formats=workbook._timedelta_formats,
        )
        # The row number a row declares (its r attribute) only names it to the
        # user: ten rows all declaring r="2" are ten rows. Numbers must increase,
        # and both the count and the number (blank rows in between count) are
        # bounded.
        read = previous = 0
        for line, cells in _parsed(parser):
            read += 1
            if line <= previous:
                raise not_a_spreadsheet()
            previous = line
            if read > limits.max_rows or line > limits.max_rows:
                raise too_many_rows(limits)
            values: dict[int, str] = {}
            for cell in cells:
                text = cell_text(cell["value"])
                if not text:
                    continue
                if cell["column"] > limits.max_columns:
                    raise too_many_columns(limits)
                if len(text) > limits.max_cell_chars:
                    raise cell_too_long(line, limits)
                values[cell["column"]] = text
            if values:
                row = [""] * max(values)
                for column, text in values.items():
                    row[column - 1] = text
                yield line, row


# CSV -------------------------------------------------------------------------------


def decode_csv(data: bytes) -> str:
    """The text of a CSV file as Chinese Excel and WPS save it."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        # Excel's "Unicode text" export.
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise not_a_spreadsheet() from None
        if "\x00" in text:
            raise not_a_spreadsheet()
        return text
    if b"\x00" in data:
        # NUL bytes: a binary file (or a workbook) renamed to .csv.
        raise not_a_spreadsheet()
    # Chinese Excel saves CSV as GBK unless told otherwise; GB18030 is its superset.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        sample = text[:65536]
        controls = sum(
            1
            for ch in sample
            if unicodedata.category(ch) == "Cc" and ch not in "\t\r\n"
        )
        if controls * 100 > len(sample):
            break  # it decoded, but as binary noise
        return text
    raise not_a_spreadsheet()


def _csv_rows(data: bytes, limits: Limits) -> Iterator[tuple[int, list[str]]]:
    text = decode_csv(data)
    first_line = text.split("\n", 1)[0]
    # Excel's "Unicode text" is tab-separated; some locales use semicolons.
    delimiter = max((",", "\t", ";"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    line = 0
    try:
        for cells in reader:
            line += 1
            if line > limits.max_rows:
                raise too_many_rows(limits)
            if len(cells) > limits.max_columns and any(cells[limits.max_columns :]):
                raise too_many_columns(limits)
            row = [cell_text(cell) for cell in cells[: limits.max_columns]]
            if any(len(cell) > limits.max_cell_chars for cell in row):
                raise cell_too_long(line, limits)
            while row and not row[-1]:
                row.pop()
            if row:
                yield line, row
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise cell_too_long(line + 1, limits) from exc
        raise SpreadsheetRefused(
            _("The CSV file is damaged near line %(line)s: %(error)s")
            % {"line": reader.line_num, "error": exc}
        ) from exc


def precheck(data: bytes, *, extension: str, limits: Limits = DEFAULT_LIMITS) -> None:
    """The checks that cost nothing whatever the file holds (extension, the zip's
    directory, CSV encoding), for refusing a hostile upload before it is stored;
    the rows are read later, off the request path."""
    if extension == ".csv":
        decode_csv(data)
        return
    if extension != ".xlsx":
        raise SpreadsheetRefused(
            _("Upload a CSV file (.csv) or an Excel workbook (.xlsx).")
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise not_a_spreadsheet() from exc
    with archive:
        check_zip(archive, limits)


# Both ------------------------------------------------------------------------------


@contextmanager
def read_rows(
    stream: IO[bytes], *, extension: str, limits: Limits = DEFAULT_LIMITS
) -> Iterator[Iterator[tuple[int, list[str]]]]:
    """The non-empty rows of a CSV file or of a workbook's first sheet, as
    (row number as a spreadsheet program shows it, cell texts without trailing
    empties). Reading is lazy; SpreadsheetRefused comes from the row that breaks a
    limit, so a caller that reads every row has checked the whole file."""
    if extension == ".csv":
        yield _csv_rows(stream.read(), limits)
        return
    if extension != ".xlsx":
        raise SpreadsheetRefused(
            _("Upload a CSV file (.csv) or an Excel workbook (.xlsx).")
        )
    sheet = _open_xlsx(stream, limits)
    try:
        yield _xlsx_rows(sheet, limits)
    finally:
        if isinstance(sheet.strings, _LazyStrings):
            sheet.strings.close()
        sheet.archive.close()
