"""Spreadsheet files read as rows of cells: CSV text and Excel workbooks (.xlsx).

The format is told from the content, not the file's name: a workbook is a zip archive, anything
else must be UTF-8 text. CSV is read line by line and a workbook sheet row by row (openpyxl's
read-only mode), so a large file is never held in memory; ``rows()`` may be called again to read
the file from the start. Problems raise ``ValidationFailed`` (a file that cannot be read as it
is) or ``UnsupportedMediaType`` (a kind of file neither format is), naming the line or row.
"""

from __future__ import annotations

import codecs
import csv
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import IO, Any, Literal

from leadline.errors import UnsupportedMediaType, ValidationFailed

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DELIMITERS: tuple[str, ...] = (",", ";", "\t")

# A cell as the readers hand it over: text from CSV; from a workbook, whatever the cell holds
# (numbers, booleans, and dates and times for cells formatted as such).
Cell = str | int | float | bool | datetime | date | time | timedelta | None
TableFormat = Literal["csv", "xlsx"]

# Workbooks often carry features openpyxl does not read (data validation, some styles); it says
# so with a warning, which means nothing to someone importing the values.
warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")

_ZIP = b"PK\x03\x04"
# Beginnings of files that are certainly not CSV text, and what to tell their sender.
_NOT_TEXT: tuple[tuple[bytes, str], ...] = (
    (b"\xd0\xcf\x11\xe0", "an Excel 97-2003 workbook (.xls); save it as .xlsx or as CSV UTF-8"),
    (codecs.BOM_UTF16_LE, "UTF-16 text; save it as CSV UTF-8"),
    (codecs.BOM_UTF16_BE, "UTF-16 text; save it as CSV UTF-8"),
    (b"%PDF", "a PDF document, not a spreadsheet"),
    (b"\x89PNG", "an image, not a spreadsheet"),
    (b"\xff\xd8\xff", "an image, not a spreadsheet"),
    (b"\x1f\x8b", "a gzip archive; unpack it first"),
)
_SNIFF_BYTES = 8192


@dataclass(frozen=True)
class TableRow:
    """A row with something in it. ``number`` counts as a spreadsheet does, the header being
    row 1 of a file that starts with it; for CSV it is the line the record starts on."""

    number: int
    cells: list[Cell]


class Table:
    """An opened file: its header (the first row with something in it) and its rows."""

    format: TableFormat
    # The sheet read, for a workbook; the delimiter found, for CSV.
    sheet: str | None = None
    delimiter: str | None = None
    header: list[str]
    header_row: int

    def rows(self) -> Iterator[TableRow]:
        """The rows after the header, read from the file's start; empty rows left out."""
        for row in self._records():
            if row.number > self.header_row:
                yield row

    def _records(self) -> Iterator[TableRow]:
        raise NotImplementedError

    def _read_header(self) -> None:
        first = next(self._records(), None)
        if first is None:
            raise ValidationFailed("the file has no rows: expected a header row")
        self.header_row = first.number
        self.header = [_header_text(cell) for cell in first.cells]

    def close(self) -> None:
        """Release what the reader holds open (the file itself stays the caller's)."""


def open_table(file: IO[bytes], *, sheet: str | None = None) -> Table:
    """Open a CSV file or a workbook (its first sheet, or the one named ``sheet``).

    ``file`` must be seekable: the header is read at once, and each ``rows()`` starts over.
    """
    file.seek(0)
    head = file.read(_SNIFF_BYTES)
    file.seek(0)
    if not head:
        raise ValidationFailed("the file is empty")
    if head.startswith(_ZIP):
        return _Workbook(file, sheet)
    for magic, what in _NOT_TEXT:
        if head.startswith(magic):
            raise UnsupportedMediaType(f"the file is {what}", details={"format": "unknown"})
    if b"\x00" in head:
        raise UnsupportedMediaType(
            "the file is neither CSV text nor an Excel workbook (.xlsx)",
            details={"format": "unknown"},
        )
    if sheet is not None:
        raise ValidationFailed(
            "a sheet was named, but the file is CSV text, which has no sheets",
            details={"field": "sheet"},
        )
    return _Csv(file)


def _header_text(cell: Cell) -> str:
    if cell is None:
        return ""
    return str(cell).replace("\ufeff", "").strip()


def is_blank(cell: Cell) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


# ---------------------------------------------------------------------------------------- CSV


class _Csv(Table):
    format: TableFormat = "csv"

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file
        self.delimiter = self._sniff_delimiter()
        self._read_header()

    def _lines(self) -> Iterator[str]:
        """The file's lines as text, each decoded on its own so an error can name its line."""
        self.file.seek(0)
        for number, raw in enumerate(self.file, start=1):
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ValidationFailed(
                    f"line {number} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at "
                    f"position {exc.start + 1}); save the file as CSV UTF-8",
                    details={"line": number},
                ) from None

    def _sniff_delimiter(self) -> str:
        """The delimiter the header line uses most (outside quotes): comma, semicolon or tab.

        Headers rarely contain any of them, so the header says it more surely than a guess
        over data rows; a header of one column is comma-separated by definition.
        """
        for line in self._lines():
            if line.strip():
                counts = dict.fromkeys(DELIMITERS, 0)
                quoted = False
                for char in line:
                    if char == '"':
                        quoted = not quoted
                    elif not quoted and char in counts:
                        counts[char] += 1
                best = max(DELIMITERS, key=lambda delimiter: counts[delimiter])
                return best if counts[best] else ","
        return ","

    def _records(self) -> Iterator[TableRow]:
        assert self.delimiter is not None
        # Strict: a quote left open would otherwise swallow every row after it into one cell.
        reader = csv.reader(self._lines(), delimiter=self.delimiter, strict=True)
        start = 1
        try:
            for cells in reader:
                if any(cell.strip() for cell in cells):
                    yield TableRow(start, list(cells))
                start = reader.line_num + 1
        except csv.Error as exc:
            raise ValidationFailed(
                f"line {reader.line_num}: the CSV is malformed ({exc})",
                details={"line": reader.line_num},
            ) from None


# ----------------------------------------------------------------------------------- workbook


class _Workbook(Table):
    format: TableFormat = "xlsx"

    def __init__(self, file: IO[bytes], sheet: str | None) -> None:
        import openpyxl
        from openpyxl.utils.exceptions import InvalidFileException

        _check_workbook_archive(file)
        try:
            self.book = openpyxl.load_workbook(file, read_only=True, data_only=True)
        except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
            raise ValidationFailed(
                f"the workbook cannot be read ({exc}); save it again as .xlsx or as CSV UTF-8"
            ) from None
        try:
            names = [ws.title for ws in self.book.worksheets]
            if not names:
                raise ValidationFailed("the workbook has no worksheet")
            if sheet is None:
                chosen = names[0]
            else:
                wanted = sheet.strip()
                exact = [name for name in names if name == wanted]
                folded = [name for name in names if name.casefold() == wanted.casefold()]
                if not (exact or folded):
                    raise ValidationFailed(
                        f"the workbook has no sheet '{wanted}'; its sheets are "
                        + ", ".join(f"'{name}'" for name in names),
                        details={"field": "sheet", "sheets": names},
                    )
                chosen = (exact or folded)[0]
            self.sheet = chosen
            self.worksheet: Any = self.book[chosen]
            # The stored dimensions of a sheet are often wrong; read what is really there.
            self.worksheet.reset_dimensions()
            self._read_header()
        except BaseException:
            self.book.close()
            raise

    def _records(self) -> Iterator[TableRow]:
        try:
            for number, values in enumerate(self.worksheet.iter_rows(values_only=True), start=1):
                cells = [_workbook_cell(value) for value in values]
                if not all(is_blank(cell) for cell in cells):
                    yield TableRow(number, cells)
        except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
            raise ValidationFailed(f"the workbook cannot be read ({exc})") from None

    def close(self) -> None:
        self.book.close()


def _check_workbook_archive(file: IO[bytes]) -> None:
    """A zip archive is a workbook only if it holds one: say what else it is."""
    try:
        with zipfile.ZipFile(file) as archive:
            names = set(archive.namelist())
            kind = archive.read("mimetype")[:100] if "mimetype" in names else b""
    except zipfile.BadZipFile:
        raise ValidationFailed(
            "the file looks like an Excel workbook but is damaged (not a readable zip archive)"
        ) from None
    finally:
        file.seek(0)
    if "xl/workbook.xml" in names:
        return
    if kind.startswith(b"application/vnd.oasis.opendocument.spreadsheet"):
        what = "an OpenDocument spreadsheet (.ods); save it as .xlsx or as CSV UTF-8"
    else:
        what = "a zip archive, not an Excel workbook (.xlsx)"
    raise UnsupportedMediaType(f"the file is {what}", details={"format": "unknown"})


def _workbook_cell(value: Any) -> Cell:
    if value is None or isinstance(value, str | int | float | datetime | date | time | timedelta):
        return value  # bool is an int
    return str(value)
