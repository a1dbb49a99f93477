"""Spreadsheet files read as rows of cells: CSV text and Excel workbooks (.xlsx).

The format is told from the content, not the file's name: a workbook is a zip archive, anything
else must be UTF-8 text. CSV is read line by line and a workbook sheet row by row (openpyxl's
read-only mode), so a large file is never held in memory; ``rows()`` may be called again to read
the file from the start. Problems raise ``ValidationFailed`` (a file that cannot be read as it
is) or ``UnsupportedMediaType`` (a kind of file neither format is), naming the line or row.

Every file is read within bounds (:class:`TableLimits`), checked before and while it is read,
so a hostile file costs no more memory or time than a large honest one: a workbook is a zip
archive, and a few hundred kilobytes of one can unpack to gigabytes (a zip bomb).
"""

from __future__ import annotations

import codecs
import csv
import struct
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import IO, Any, Literal

from leadline.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed

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

# The longest cell read, in characters. Above the longest text a lead field takes (65,536: a
# note, a loss reason), so a cell a field refuses stays an invalid row, named with its field,
# that skipping invalid rows leaves out; below the csv module's field limit (131,072), so a CSV
# and a workbook are refused alike, with the row and column. (Excel's cells stop at 32,767.)
MAX_CELL_CHARS = 100_000
# A CSV record (a line, or the lines of a record with quoted line breaks): room for many cells
# of the longest length, and a bound on what one record holds in memory.
MAX_RECORD_BYTES = 1 << 20
# A workbook has a dozen members, a few hundred with many sheets and pictures; the central
# directory is read whole by zipfile, so its size is bounded before zipfile reads it.
MAX_ZIP_MEMBERS = 1000
MAX_ZIP_DIRECTORY_BYTES = 1 << 20
# Worksheet XML compresses 5-20 to 1; deflate's ceiling is about 1000 to 1, which only
# content made to expand reaches. Small members are left alone (a ratio means little there).
MAX_ZIP_RATIO = 100
ZIP_RATIO_FROM_BYTES = 1 << 20
_ZIP_CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class TableLimits:
    """How much of a file is read. ``max_bytes`` bounds the data: a CSV file's size, or the
    unpacked size of a workbook's members (the shared strings among them, which openpyxl holds
    in memory whole). ``max_rows`` counts the rows after the header."""

    max_bytes: int = 100 * (1 << 20)
    max_rows: int = 100_000
    max_cell_chars: int = MAX_CELL_CHARS


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
    limits: TableLimits

    def rows(self) -> Iterator[TableRow]:
        """The rows after the header, read from the file's start; empty rows left out.
        ``PayloadTooLarge`` past the row limit or at a cell over the cell limit."""
        count = 0
        for row in self._records():
            if row.number <= self.header_row:
                continue
            count += 1
            if count > self.limits.max_rows:
                raise PayloadTooLarge(
                    f"row {row.number}: the file has more than {self.limits.max_rows} rows; "
                    "split it into several files",
                    details={"row": row.number, "limit": self.limits.max_rows},
                )
            self._check_cells(row)
            yield row

    def _check_cells(self, row: TableRow) -> None:
        for index, cell in enumerate(row.cells):
            if isinstance(cell, str) and len(cell) > self.limits.max_cell_chars:
                header = getattr(self, "header", [])
                column = header[index] if index < len(header) and header[index] else None
                column = column or f"column {index + 1}"
                raise PayloadTooLarge(
                    f"row {row.number}, column '{column}': the cell holds {len(cell)} "
                    f"characters; at most {self.limits.max_cell_chars} are accepted",
                    details={
                        "row": row.number,
                        "column": column,
                        "limit": self.limits.max_cell_chars,
                    },
                )

    def _records(self) -> Iterator[TableRow]:
        raise NotImplementedError

    def _read_header(self) -> None:
        first = next(self._records(), None)
        if first is None:
            raise ValidationFailed("the file has no rows: expected a header row")
        self._check_cells(first)
        self.header_row = first.number
        self.header = [_header_text(cell) for cell in first.cells]

    def close(self) -> None:
        """Release what the reader holds open (the file itself stays the caller's)."""


def open_table(
    file: IO[bytes], *, sheet: str | None = None, limits: TableLimits | None = None
) -> Table:
    """Open a CSV file or a workbook (its first sheet, or the one named ``sheet``), to be read
    within ``limits``: ``PayloadTooLarge`` past them.

    ``file`` must be seekable: the header is read at once, and each ``rows()`` starts over.
    """
    limits = limits or TableLimits()
    file.seek(0)
    head = file.read(_SNIFF_BYTES)
    file.seek(0)
    if not head:
        raise ValidationFailed("the file is empty")
    if head.startswith(_ZIP):
        return _Workbook(file, sheet, limits)
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
    return _Csv(file, limits)


def _header_text(cell: Cell) -> str:
    if cell is None:
        return ""
    return str(cell).replace("\ufeff", "").strip()


def is_blank(cell: Cell) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


# ---------------------------------------------------------------------------------------- CSV


class _Csv(Table):
    format: TableFormat = "csv"

    def __init__(self, file: IO[bytes], limits: TableLimits) -> None:
        self.file = file
        self.limits = limits
        # Bytes of the record being read: reset by _records as each record ends.
        self._record_bytes = 0
        self.delimiter = self._sniff_delimiter()
        self._read_header()

    def _lines(self) -> Iterator[str]:
        """The file's lines as text, each decoded on its own so an error can name its line.

        A line is read with a limit, never whole whatever its length, and the file's size and
        each record's are counted as they are read: a file without line breaks, or one quoted
        cell left open over the rest of the file, is refused without being held in memory.
        """
        self.file.seek(0)
        total = 0
        number = start = 0
        self._record_bytes = 0
        while raw := self.file.readline(MAX_RECORD_BYTES + 1):
            number += 1
            total += len(raw)
            if self._record_bytes == 0:
                start = number
            self._record_bytes += len(raw)
            if total > self.limits.max_bytes:
                raise PayloadTooLarge(
                    f"line {number}: the file is over {self.limits.max_bytes} bytes; "
                    "split it into several files",
                    details={"line": number, "limit": self.limits.max_bytes},
                )
            if self._record_bytes > MAX_RECORD_BYTES:
                raise PayloadTooLarge(
                    f"line {start}: a record is over {MAX_RECORD_BYTES} bytes (is a quote "
                    "left open?)",
                    details={"line": start, "limit": MAX_RECORD_BYTES},
                )
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
                self._record_bytes = 0
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

    def __init__(self, file: IO[bytes], sheet: str | None, limits: TableLimits) -> None:
        import openpyxl
        from openpyxl.utils.exceptions import InvalidFileException

        self.limits = limits
        _check_workbook_archive(file, limits)
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


_DAMAGED = "the file looks like an Excel workbook but is damaged"
# The zip records that say where the central directory is and how large: the end record, and
# the locator and record of its 64-bit form (PKWARE's APPNOTE, 4.3.14 to 4.3.16).
_END = struct.Struct("<4s4H2LH")
_END_SIGNATURE = b"PK\x05\x06"
_END64_LOCATOR = struct.Struct("<4sLQL")
_END64 = struct.Struct("<4sQ2H2L4Q")


def _check_workbook_archive(file: IO[bytes], limits: TableLimits) -> None:
    """A zip archive is a workbook only if it holds one (say what else it is), and it is read
    only if it unpacks within ``limits``: ``PayloadTooLarge`` otherwise."""
    try:
        _check_directory(file)
        with zipfile.ZipFile(file) as archive:
            members = archive.infolist()
            _check_declared_sizes(members, limits)
            names = {info.filename for info in members}
            kind = b""
            if "mimetype" in names:
                with archive.open("mimetype") as mimetype:
                    kind = mimetype.read(100)
            if "xl/workbook.xml" in names:
                _check_content(archive, members, limits)
    except zipfile.BadZipFile as exc:
        raise ValidationFailed(
            f"{_DAMAGED} ({exc or 'not a readable zip archive'})", details={"format": "xlsx"}
        ) from None
    except (zlib.error, EOFError, NotImplementedError, RuntimeError, OSError) as exc:
        # A member deflated wrongly, cut short, encrypted or packed by a method zipfile lacks.
        raise ValidationFailed(
            f"{_DAMAGED} ({exc}); save it again as .xlsx or as CSV UTF-8",
            details={"format": "xlsx"},
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


def _check_directory(file: IO[bytes]) -> None:
    """The central directory's size and member count, from the records at the archive's end,
    found as zipfile finds them: zipfile reads the whole directory into memory, and makes an
    object of each member, before anything can look at it."""
    end = file.seek(0, 2)
    start = max(0, end - _END.size - 0xFFFF)  # the end record, then a comment of up to 64 KiB
    file.seek(start)
    tail = file.read()
    at = tail.rfind(_END_SIGNATURE)
    if at < 0 or len(tail) - at < _END.size:
        raise zipfile.BadZipFile("not a readable zip archive")
    *_, members, directory, _offset, _comment = _END.unpack_from(tail, at)
    before = at - _END64_LOCATOR.size - _END64.size
    if before >= 0 and tail[at - _END64_LOCATOR.size :].startswith(b"PK\x06\x07"):
        record = _END64.unpack_from(tail, before)
        if record[0] == b"PK\x06\x06":
            members, directory = max(members, record[7]), max(directory, record[8])
    if members > MAX_ZIP_MEMBERS or directory > MAX_ZIP_DIRECTORY_BYTES:
        raise PayloadTooLarge(
            f"the workbook has {members} members in a directory of {directory} bytes; at most "
            f"{MAX_ZIP_MEMBERS} members in {MAX_ZIP_DIRECTORY_BYTES} bytes are read",
            details={"members": members, "limit": MAX_ZIP_MEMBERS},
        )


def _check_declared_sizes(members: list[zipfile.ZipInfo], limits: TableLimits) -> None:
    """The sizes the central directory declares: each member's ratio, and their total."""
    if len(members) > MAX_ZIP_MEMBERS:
        raise PayloadTooLarge(
            f"the workbook has {len(members)} members; at most {MAX_ZIP_MEMBERS} are read",
            details={"members": len(members), "limit": MAX_ZIP_MEMBERS},
        )
    total = 0
    for info in members:
        total += info.file_size
        packed = max(info.compress_size, 1)
        if info.file_size > ZIP_RATIO_FROM_BYTES and info.file_size > MAX_ZIP_RATIO * packed:
            raise PayloadTooLarge(
                f"the workbook's member '{info.filename}' unpacks from {info.compress_size} to "
                f"{info.file_size} bytes, {info.file_size // packed} to 1; more than "
                f"{MAX_ZIP_RATIO} to 1 is refused (a spreadsheet compresses far less; a zip bomb "
                "does not)",
                details={"member": info.filename, "limit": MAX_ZIP_RATIO},
            )
    if total > limits.max_bytes:
        raise PayloadTooLarge(
            f"the workbook unpacks to {total} bytes; at most {limits.max_bytes} are read: "
            "split it into several files",
            details={"bytes": total, "limit": limits.max_bytes},
        )


def _check_content(
    archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], limits: TableLimits
) -> None:
    """Each member read through once, a chunk at a time, within the limit.

    The sizes checked so far are the archive's word. zipfile stops a member at its declared
    size and then checks its CRC, so a member whose content is not what the directory says (a
    directory that lies) fails here, holding a chunk, rather than in openpyxl, which holds the
    shared strings whole. The count of what was read is kept besides, not to depend on that.
    """
    read = 0
    for info in members:
        with archive.open(info) as member:
            while chunk := member.read(_ZIP_CHUNK):
                read += len(chunk)
                if read > limits.max_bytes:
                    raise PayloadTooLarge(
                        f"the workbook unpacks to more than {limits.max_bytes} bytes; "
                        "split it into several files",
                        details={"limit": limits.max_bytes},
                    )


def _workbook_cell(value: Any) -> Cell:
    if value is None or isinstance(value, str | int | float | datetime | date | time | timedelta):
        return value  # bool is an int
    return str(value)
