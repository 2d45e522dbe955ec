"""Plan files as careless operators and attackers hand them over: through `wavelift check-plan-file` and
the import-plan flow's reading, each is refused with its file, row, field and reason (or read as what it
really is), nothing is saved, and nothing hangs or ends in a traceback."""

from __future__ import annotations

import codecs
import csv
import io
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from wavelift.deployments.cli import app
from wavelift.flows.plan import PlanImport, build_plan
from wavelift.tasks.assessment import read_assessment
from wavelift.tasks.migrate_csv import REQUIRED, read_migrate_csv
from wavelift.tasks.plan_files import MAX_CELL, MAX_LINES, MAX_ROWS
from wavelift.tasks.planning import PlanSettings
from wavelift.tasks.problems import InputRefused

FIXTURES = Path(__file__).parent / "fixtures" / "azure-migrate"
SAMPLE_CSV = FIXTURES / "migrate-at-scale-input.csv"
SAMPLE_XLSX = FIXTURES / "assessment-perf-payg.xlsx"
SETTINGS = PlanSettings(plan_name="hostile", target_block="nowhere")
pytestmark = pytest.mark.timeout(120)


def _check(path: Path) -> tuple[int, str]:
    """`wavelift check-plan-file` in this process: exit code and everything it printed."""
    result = CliRunner().invoke(app, ["check-plan-file", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result.exit_code, result.output


def _refused(path: Path) -> InputRefused:
    """What the import-plan flow's reading says of the file (no discovery needed to refuse a file)."""
    outcome = build_plan.fn(
        PlanImport(source="assessment" if path.suffix == ".xlsx" else "csv", path=str(path)), SETTINGS, []
    )
    assert outcome.plan is None
    return InputRefused(outcome.problems)


def _sample_rows() -> tuple[list[str], list[dict[str, str]]]:
    with SAMPLE_CSV.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def _write_csv(
    path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8", delimiter: str = ","
) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def _rewrite_member(source: Path, target: Path, member_suffix: str, change: Callable[[bytes], bytes]) -> Path:
    """Copy a workbook, changing the XML of the members whose names end with `member_suffix`."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            zout.writestr(item, change(data) if item.filename.endswith(member_suffix) else data)
    return target


def test_excel_unicode_text_and_windows_1252_csvs_are_read(tmp_path: Path) -> None:
    header, rows = _sample_rows()
    rows[0]["VM_TAG_VALUE"] = "Zürich,Málaga"
    values = [[row[h] for h in header] for row in rows]
    unicode_text = tmp_path / "unicode.txt"
    unicode_text.write_bytes(
        codecs.BOM_UTF16_LE + _write_csv(tmp_path / "x", header, values, delimiter="\t").read_text().encode("utf-16-le")
    )
    western = _write_csv(tmp_path / "western.csv", header, values, encoding="cp1252")
    semicolons = _write_csv(tmp_path / "semicolons.csv", header, values, delimiter=";")
    for path in (unicode_text, western, semicolons):
        (row,) = read_migrate_csv(path)
        assert row.vm_tags == {"vm-tag-1": "Zürich", "vm-tag-2": "Málaga"}, path.name
        assert _check(path)[0] == 0


@pytest.mark.parametrize(
    ("make", "row", "field", "words"),
    [
        (lambda p: p.write_bytes(SAMPLE_CSV.read_bytes().replace(b"testvm-xx", b"test\x00vm")), 2, "file", "NUL byte"),
        (lambda p: p.write_bytes(bytes(range(256)) * 64), 1, "file", "binary data"),
        (lambda p: p.write_bytes(b""), None, "file", "is empty"),
        (lambda p: _write_csv(p, [*_sample_rows()[0], "OK_TO_MIGRATE"], [[]]), 1, "OK_TO_MIGRATE", "appears 2 times"),
        (lambda p: _write_csv(p, _sample_rows()[0], []), 2, "rows", "header but no machine rows"),
        (
            lambda p: _write_csv(p, ["SOURCE_MACHINE_NAME", *REQUIRED[1:]], [["x" * (MAX_CELL + 1), "vm", "Y", "Y"]]),
            2,
            "SOURCE_MACHINE_NAME",
            "characters long",
        ),
        (lambda p: _write_csv(p, REQUIRED, [["x" * 200_000, "vm", "Y", "Y"]]), 2, "file", "not a readable CSV"),
        (
            lambda p: _write_csv(p, REQUIRED, [["a", "b", "Y", "Y"]] * (MAX_ROWS + 1)),
            MAX_ROWS + 2,
            "rows",
            f"more than {MAX_ROWS} rows",
        ),
        (
            lambda p: p.write_bytes(",".join(REQUIRED).encode() + b"\n" * (MAX_LINES + 1)),
            None,
            "rows",
            "a plan file may have at most",
        ),
        (
            lambda p: _write_csv(p, REQUIRED, [["a", "b", "Y", "Y", *[""] * 500]]),
            2,
            "column 201",
            "the row has 504 cells",
        ),
    ],
    ids=[
        "nul-byte",
        "binary",
        "empty",
        "duplicate-column",
        "header-only",
        "long-cell",
        "huge-cell",
        "too-many-rows",
        "blank-lines",
        "wide-row",
    ],
)
def test_a_bad_csv_is_refused_by_row_and_field(
    tmp_path: Path, make: Callable[[Path], object], row: int | None, field: str, words: str
) -> None:
    path = tmp_path / "input.csv"
    make(path)
    for refusal in (_refused(path), pytest.raises(InputRefused, read_migrate_csv, path).value):
        problem = next(p for p in refusal.problems if p.field == field)
        assert (problem.source, problem.row) == ("input.csv", row) and words in problem.reason, problem
    code, output = _check(path)
    assert code == 1 and "input.csv" in output and words in output and "Traceback" not in output


def test_a_50_mb_cell_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "big.csv", REQUIRED, [["x" * 50 * 1024**2, "vm", "Y", "Y"]])
    code, output = _check(path)
    assert code == 1 and "big.csv, field file: the file is 50.0 MB" in output


def _huge_dimension(data: bytes) -> bytes:
    return re.sub(rb'<dimension ref="[^"]*"/>', b'<dimension ref="A1:XFD1048576"/>', data)


def _far_row(data: bytes) -> bytes:
    return data.replace(
        b"</sheetData>", b'<row r="1048576"><c r="A1048576" t="inlineStr"><is><t>x</t></is></c></row></sheetData>'
    )


@pytest.mark.parametrize(
    ("make", "field", "words"),
    [
        (
            lambda p: p.write_bytes(
                b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512 + "EncryptedPackage".encode("utf-16-le")
            ),
            "file",
            "encrypted",
        ),
        (lambda p: p.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 4096), "file", "legacy Excel 97-2003"),
        (lambda p: p.write_bytes(b"PK\x03\x04" + b"\0" * 100), "file", "not a readable .xlsx workbook"),
        (lambda p: _zip_of(p, {"readme.txt": b"hello"}), "file", "not an Excel workbook"),
        (lambda p: _rewrite_member(SAMPLE_XLSX, p, "sheet2.xml", _far_row), "rows", f"more than {MAX_ROWS} rows"),
        (lambda p: _header_only(p), "Machine", "header but no rows"),
        (lambda p: _duplicate_machine(p), "Machine", "is also at row 2"),
    ],
    ids=[
        "encrypted",
        "legacy-xls",
        "damaged-zip",
        "zip-not-workbook",
        "row-a-million-down",
        "header-only",
        "duplicate-machine",
    ],
)
def test_a_bad_workbook_is_refused_with_what_to_do(
    tmp_path: Path, make: Callable[[Path], object], field: str, words: str
) -> None:
    path = tmp_path / "assessment.xlsx"
    make(path)
    for refusal in (_refused(path), pytest.raises(InputRefused, read_assessment, path).value):
        problem = next(p for p in refusal.problems if p.field == field)
        assert problem.source.startswith("assessment.xlsx") and words in problem.reason, problem
    code, output = _check(path)
    assert code == 1 and words in output and "Traceback" not in output


def test_declared_dimensions_are_not_believed(tmp_path: Path) -> None:
    path = _rewrite_member(SAMPLE_XLSX, tmp_path / "assessment.xlsx", ".xml", _huge_dimension)
    assert len(read_assessment(path)) == 547


def test_a_file_is_what_its_bytes_say_not_its_name(tmp_path: Path) -> None:
    named_csv = shutil.copy(SAMPLE_XLSX, tmp_path / "assessment.csv")
    named_xls = shutil.copy(SAMPLE_XLSX, tmp_path / "assessment.xls")
    assert _check(Path(named_csv)) == (0, "assessment.csv: 547 assessed machines, 545 ready for Azure, 2 not.\n")
    assert _check(Path(named_xls))[0] == 0
    wrong_kind = build_plan.fn(PlanImport(source="csv", path=str(named_csv)), SETTINGS, []).problems
    assert [(p.field, p.reason) for p in wrong_kind] == [
        ("source", "the file is an Excel workbook, but the import says 'csv'")
    ]


def test_the_cli_refuses_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_bytes(b"\x00\x01\x02binary")
    wavelift = Path(sys.executable).parent / "wavelift"
    done = subprocess.run(
        [str(wavelift), "check-plan-file", str(tmp_path / "bad.csv")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1 and "bad.csv, row 1, field file: contains a NUL byte at line 1" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    missing = CliRunner().invoke(app, ["check-plan-file", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 1 and "nope.csv" in missing.output and "does not exist" in missing.output


def _zip_of(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _header_only(path: Path) -> None:
    book = openpyxl.load_workbook(SAMPLE_XLSX)
    for name in ("All_Assessed_Machines", "All_Assessed_Disks"):
        book[name].delete_rows(2, book[name].max_row)
    book.save(path)


def _duplicate_machine(path: Path) -> None:
    book = openpyxl.load_workbook(SAMPLE_XLSX)
    sheet = book["All_Assessed_Machines"]
    sheet.append([c.value for c in sheet[2]])
    book.save(path)


CELLS = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)


def _no_crash(path: Path) -> None:
    """A valid plan file or a clear refusal, from both entry points; never anything else."""
    code, output = _check(path)
    assert code in (0, 1) and "Traceback" not in output
    if code == 1:
        assert re.search(r"\d+ problem\(s\); nothing was changed:\n  - .+, field .+: ", output), output
    outcome = build_plan.fn(
        PlanImport(source="assessment" if path.suffix == ".xlsx" else "csv", path=str(path)), SETTINGS, []
    )
    assert outcome.plan is None and outcome.problems  # nothing is discovered here, so no plan can come out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    header=st.lists(st.sampled_from([*REQUIRED, "WAVE", "OK_TO_USE_ASSESSMENT", "X"]) | CELLS, max_size=8),
    rows=st.lists(st.lists(CELLS, max_size=9), max_size=6),
    encoding=st.sampled_from(["utf-8", "utf-16", "cp1252", "latin-1"]),
    delimiter=st.sampled_from([",", ";", "\t"]),
)
def test_generated_csvs_are_read_or_refused(
    tmp_path: Path, header: list[str], rows: list[list[str]], encoding: str, delimiter: str
) -> None:
    path = tmp_path / "generated.csv"
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows([header, *rows])
    path.write_bytes(buffer.getvalue().encode(encoding, errors="replace"))
    _no_crash(path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2048))
def test_generated_bytes_are_refused(tmp_path: Path, data: bytes) -> None:
    for name in ("generated.csv", "generated.xlsx"):
        (tmp_path / name).write_bytes(data)
        _no_crash(tmp_path / name)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sheets=st.lists(
        st.sampled_from(["All_Assessed_Machines", "All_Assessed_Disks", "Other"]), min_size=1, max_size=3, unique=True
    ),
    rows=st.lists(st.lists(st.none() | st.integers() | st.floats(allow_nan=True) | CELLS, max_size=6), max_size=5),
)
def test_generated_workbooks_are_read_or_refused(tmp_path: Path, sheets: list[str], rows: list[list[object]]) -> None:
    book = openpyxl.Workbook()
    book.remove(book.active)
    header = [
        "Machine",
        "Azure VM readiness",
        "Azure readiness issues",
        "Recommended size",
        "Operating system",
        "Disk name",
        "Recommended disk type",
        "Source disk size(GB)",
    ]
    for name in sheets:
        sheet = book.create_sheet(name)
        sheet.append(header)
        for row in rows:
            sheet.append([re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "", v) if isinstance(v, str) else v for v in row])
    book.save(tmp_path / "generated.xlsx")
    _no_crash(tmp_path / "generated.xlsx")


def test_a_chart_sheet_under_the_expected_name_is_refused(tmp_path: Path) -> None:
    from openpyxl.chart import BarChart

    book = openpyxl.Workbook()
    book.active.title = "All_Assessed_Disks"
    book.create_chartsheet("All_Assessed_Machines").add_chart(BarChart())
    book.save(tmp_path / "assessment.xlsx")
    code, output = _check(tmp_path / "assessment.xlsx")
    assert code == 1 and "assessment.xlsx:All_Assessed_Machines, field file: cannot be read" in output
