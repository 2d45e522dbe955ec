"""Open a plan file safely, whatever it turns out to be: decide by its bytes (not its name) whether it is a
workbook or a CSV, decode what Excel writes, and read within bounds.

Operators hand over what Excel saved, sometimes under the wrong name; an attacker hands over anything.
Every refusal is an `InputRefused` naming the file (and the row and field where there is one), and
every read is bounded (file size, unpacked size, rows, columns, cell length), so no file hangs the
import or ends it in a traceback.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import re
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from wavelift.tasks.problems import InputRefused, Problem

MAX_FILE_BYTES = 32 * 1024**2  # a 5,000-machine Input.csv is ~5 MB, its assessment export less
MAX_UNPACKED_BYTES = 256 * 1024**2  # what a workbook's parts may unpack to (a zip bomb stops here)
MAX_ROWS = 20_000
MAX_LINES = 10 * MAX_ROWS  # quoted cells may span lines, but not this many
MAX_COLUMNS = 200
MAX_CELL = 4_096  # characters; Azure names and ids are far shorter
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Compound File: legacy .xls, or an encrypted (password-protected) .xlsx
ZIP = b"PK\x03\x04"
ENCRYPTED = "EncryptedPackage".encode("utf-16-le")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
DELIMITERS = ",;\t"  # Excel's CSV, a European Excel's CSV, Excel's "Unicode text"

Kind = Literal["xlsx", "csv"]


def _refuse(source: str, reason: str, field: str = "file", row: int | None = None) -> InputRefused:
    return InputRefused([Problem(source=source, row=row, field=field, reason=reason)])


def read_bytes(path: Path) -> bytes:
    """The file's bytes, refused when it is missing, not a file, unreadable or larger than a plan file can be."""
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise _refuse(path.name, f"{path} is not a file")
        if size > MAX_FILE_BYTES:
            raise _refuse(
                path.name,
                f"the file is {size / 1024**2:.1f} MB; a plan file may be at most {MAX_FILE_BYTES // 1024**2} MB",
            )
        return path.read_bytes()
    except FileNotFoundError:
        raise _refuse(
            path.name, f"{path.resolve()} does not exist (a relative path is read from {Path.cwd()})"
        ) from None
    except OSError as exc:
        raise _refuse(path.name, f"cannot be read: {exc.strerror or exc}") from None


def kind_of(data: bytes, source: str) -> Kind:
    """Workbook or CSV, from the bytes; refuses the Excel files wavelift cannot read with what to do instead."""
    if data.startswith(OLE2):
        if ENCRYPTED in data:
            raise _refuse(
                source,
                "the workbook is encrypted (password-protected): open it in Excel, remove the password "
                "(File > Info > Protect Workbook > Encrypt with Password, clear it) and save it as .xlsx",
            )
        raise _refuse(
            source,
            "is a legacy Excel 97-2003 workbook (.xls): open it in Excel and save it as an Excel Workbook (.xlsx)",
        )
    if data.startswith(ZIP):
        return "xlsx"
    return "csv"


def decode_text(data: bytes, source: str) -> str:
    """The text of a CSV as Excel writes it: UTF-8 (with or without BOM), UTF-16 ("Unicode text") or Windows-1252
    ("CSV" on a Western Windows); binary data is refused naming the line where it starts."""
    for bom, codec in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if data.startswith(bom):
            try:
                text = data[len(bom) :].decode(codec)
            except UnicodeDecodeError as exc:
                raise _refuse(
                    source,
                    f"starts with a {codec.upper()} byte-order mark but is not valid {codec.upper()} "
                    f"(byte {exc.start}): save it again as CSV UTF-8",
                ) from None
            return _text_only(text, source)
    if data.count(0) > len(data) // 4:  # UTF-16 without a byte-order mark: every other byte is NUL
        codec = "utf-16-le" if data[1::2].count(0) > data[0::2].count(0) else "utf-16-be"
        with contextlib.suppress(UnicodeDecodeError):
            return _text_only(data.decode(codec), source)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")  # never fails: the 5 bytes cp1252 leaves undefined become U+FFFD
    return _text_only(text, source)


def _text_only(text: str, source: str) -> str:
    """Refuse NUL bytes and other control characters that no CSV Excel writes contains."""
    found = CONTROL.search(text)
    if found:
        line = text.count("\n", 0, found.start()) + 1
        char = found.group()
        what = "a NUL byte" if char == "\x00" else f"the control character U+{ord(char):04X}"
        raise _refuse(
            source, f"contains {what} at line {line}: binary data, not a CSV (save the sheet as CSV UTF-8)", row=line
        )
    if not text.strip():
        raise _refuse(source, "is empty")
    return text


def csv_rows(text: str, source: str, required: list[str]) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Header and (row number, cells by column) of a CSV, refusing missing or repeated columns, a header with
    no rows, and rows, columns or cells past the bounds; the delimiter is whichever splits the header most."""
    lines = text.count("\n")
    if lines > MAX_LINES:  # blank lines cost a loop turn each: count them in C before reading any
        raise _refuse(source, f"has {lines} lines; a plan file may have at most {MAX_LINES}", field="rows")
    first_line = text.split("\n", 1)[0]
    delimiter = max(DELIMITERS, key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    try:
        header = [h.strip() for h in next(reader, [])]
        problems = _header_problems(header, source, required)
        if problems:
            raise InputRefused(problems)
        rows: list[tuple[int, dict[str, str]]] = []
        for cells in reader:
            number = reader.line_num
            if len(rows) >= MAX_ROWS:
                raise _refuse(
                    source,
                    f"has more than {MAX_ROWS} rows; split the plan into several files",
                    field="rows",
                    row=number,
                )
            problems += _cell_problems(cells, header, source, number)
            if any(c.strip() for c in cells):
                rows.append((number, dict(zip(header, cells, strict=False))))
    except csv.Error as exc:
        raise _refuse(source, f"is not a readable CSV: {exc}", row=reader.line_num) from None
    if problems:
        raise InputRefused(problems)
    if not rows:
        raise _refuse(source, "has a header but no machine rows", field="rows", row=2)
    return header, rows


def _header_problems(header: list[str], source: str, required: list[str]) -> list[Problem]:
    if len(header) > MAX_COLUMNS:
        return [
            Problem(source=source, row=1, field="header", reason=f"has {len(header)} columns; at most {MAX_COLUMNS}")
        ]
    repeated = [name for name, count in Counter(h for h in header if h).items() if count > 1]
    problems = [
        Problem(
            source=source,
            row=1,
            field=name,
            reason=f"the column appears {header.count(name)} times "
            f"(columns {', '.join(str(i + 1) for i, h in enumerate(header) if h == name)}); which one counts is "
            "unclear",
        )
        for name in repeated
    ]
    return problems + [
        Problem(source=source, row=1, field=c, reason="the column is missing from the header")
        for c in required
        if c not in header
    ]


def _cell_problems(cells: list[str], header: list[str], source: str, number: int) -> list[Problem]:
    if len(cells) > MAX_COLUMNS:
        return [
            Problem(
                source=source,
                row=number,
                field=f"column {MAX_COLUMNS + 1}",
                reason=f"the row has {len(cells)} cells; at most {MAX_COLUMNS}",
            )
        ]
    problems = [
        Problem(
            source=source,
            row=number,
            field=header[i] if i < len(header) else f"column {i + 1}",
            reason=f"the cell is {len(cell)} characters long; at most {MAX_CELL}",
        )
        for i, cell in enumerate(cells)
        if len(cell) > MAX_CELL
    ]
    if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
        problems.append(
            Problem(
                source=source,
                row=number,
                field=f"column {len(header) + 1}",
                reason=f"the row has {len(cells)} cells but the header names {len(header)} columns",
            )
        )
    return problems


def open_workbook(data: bytes, source: str) -> Any:
    """The workbook, read-only, once its parts are known to unpack within bounds; anything openpyxl cannot
    open is refused the same way (an unreadable file is unreadable, whatever the reason)."""
    import openpyxl

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            unpacked = sum(i.file_size for i in archive.infolist())
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise _refuse(source, f"is not a readable .xlsx workbook (a damaged ZIP archive: {exc})") from None
    if "xl/workbook.xml" not in names:
        raise _refuse(source, "is a ZIP archive but not an Excel workbook (.xlsx)")
    if unpacked > MAX_UNPACKED_BYTES:
        raise _refuse(
            source,
            f"unpacks to {unpacked / 1024**2:.0f} MB; a plan workbook may unpack to at most "
            f"{MAX_UNPACKED_BYTES // 1024**2} MB",
        )
    try:
        return openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds on damaged files; each is a refusal
        raise _refuse(source, f"is not a readable .xlsx workbook ({type(exc).__name__}: {exc})") from None


def sheet_rows(sheet: Any, source: str) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """(row number, values) of a sheet, ignoring its declared dimensions (which can claim a million rows),
    at most `MAX_COLUMNS` wide and refused past `MAX_ROWS` rows or at a cell longer than `MAX_CELL`."""
    try:
        sheet.reset_dimensions()  # a chart sheet under that name has none: refused below like any unreadable sheet
        for number, values in enumerate(sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS + 1), start=1):
            if number > MAX_ROWS + 1:
                raise _refuse(source, f"has more than {MAX_ROWS} rows", field="rows", row=number)
            if len(values) > MAX_COLUMNS and values[MAX_COLUMNS] is not None:
                raise _refuse(
                    source, f"has more than {MAX_COLUMNS} columns", field=f"column {MAX_COLUMNS + 1}", row=number
                )
            long = next((i for i, v in enumerate(values) if isinstance(v, str) and len(v) > MAX_CELL), None)
            if long is not None:
                raise _refuse(
                    source,
                    f"the cell is {len(values[long])} characters long; at most {MAX_CELL}",
                    field=f"column {long + 1}",
                    row=number,
                )
            yield number, values[:MAX_COLUMNS]
    except InputRefused:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged sheet fails while it is parsed, row by row
        raise _refuse(source, f"cannot be read ({type(exc).__name__}: {exc})") from None
